"""Tiles per second from a warm cache, beside inclusion proofs per second.

Bulk-loads a log of synthetic entries into PostgreSQL (bench.proofs'
loader: leaves and every completed perfect subtree), publishes a
checkpoint, starts gunicorn, and over the same keep-alive connections
(spread evenly over the workers) asks for full level-0 hash tiles, which
are immutable and cached by (log, level, index) after their first read,
then for random inclusion proofs (GET /log/proof/inclusion, one query each).
Prints both rates and their ratio. Each phase stops at --requests or
--seconds, whichever comes first.

    python bench/tiles.py [--entries 65536] [--requests 6000] [--clients 4] [--seconds 15]
"""

from __future__ import annotations

import argparse
import http.client
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Server, balanced_connections, fresh_database, setup_django  # noqa: E402
from bench.proofs import bulk_load  # noqa: E402


def get_all(connections: list[http.client.HTTPConnection], paths: list[str], seconds: float) -> tuple[int, float]:
    """GET the paths, client n taking n, n + clients, … over connection n,
    until done or `seconds` pass; return (answers, elapsed seconds)."""
    deadline = time.perf_counter() + seconds
    counts = [0] * len(connections)
    failures: list[str] = []

    def client(number: int) -> None:
        conn = connections[number]
        for path in paths[number :: len(connections)]:
            if time.perf_counter() > deadline:
                return
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures.append(f"{path}: {response.status}")
                return
            counts[number] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(connections))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"not every answer was 200: {failures[:3]}")
    return sum(counts), time.perf_counter() - started


def check_sample(conn: http.client.HTTPConnection, size: int) -> None:
    """A few served tiles equal the tiles computed from the stored leaves."""
    from cairn_core.tiles import Tile, tile_from_leaves
    from provenance.models import Entry

    leaves = [bytes.fromhex(leaf) for leaf in Entry.objects.order_by("index").values_list("leaf_hash", flat=True)]
    for index in {0, size // 256 // 2, size // 256 - 1}:
        tile = Tile(0, index)
        conn.request("GET", f"/api/v1/log/{tile.path}")
        assert conn.getresponse().read() == tile_from_leaves(tile, leaves), tile.path


def workload(size: int, requests: int) -> tuple[list[str], list[str]]:
    """Full level-0 tile paths (each at least once) and inclusion proof paths."""
    from cairn_core.tiles import Tile

    rng = random.Random(6962)
    full = [f"/api/v1/log/{Tile(0, n).path}" for n in range(size // 256)]
    tiles = [full[i % len(full)] for i in range(requests)]
    rng.shuffle(tiles)
    proofs = []
    for _ in range(requests):
        tree_size = rng.randint(1, size)
        proofs.append(f"/api/v1/log/proof/inclusion?index={rng.randrange(tree_size)}&tree_size={tree_size}")
    return tiles, proofs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=65_536)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    if args.entries < 256:
        parser.error("--entries: at least one full tile (256)")

    database_url = fresh_database("cairn_bench_tiles")
    setup_django(database_url)
    bulk_load(args.entries)
    from provenance import checkpoints

    checkpoints.publish_checkpoint()
    tiles, proofs = workload(args.entries, args.requests)
    with Server(database_url, workers=2, threads=4) as server:
        connections, _ = balanced_connections(server.port, args.clients, server.workers)
        check_sample(connections[0], args.entries)
        # Warm each worker's cache: every client asks for every tile once.
        for conn in connections:
            get_all([conn], sorted(set(tiles)), args.seconds)
        tile_count, tile_seconds = get_all(connections, tiles, args.seconds)
        proof_count, proof_seconds = get_all(connections, proofs, args.seconds)
        for conn in connections:
            conn.close()
    report(args, (tile_count, tile_seconds), (proof_count, proof_seconds))


def report(args: argparse.Namespace, tiles: tuple[int, float], proofs: tuple[int, float]) -> None:
    tiles_per_second, proofs_per_second = tiles[0] / tiles[1], proofs[0] / proofs[1]
    print(f"log size {args.entries:,}; {args.clients} keep-alive clients; gunicorn 2 workers x 4 threads")
    print(f"full level-0 tiles (warm cache): {tiles_per_second:8.0f} /s  ({tiles[0]} requests, 8,192 bytes each)")
    print(f"inclusion proofs:                {proofs_per_second:8.0f} /s  ({proofs[0]} requests)")
    print(f"ratio tiles / inclusion proofs:  {tiles_per_second / proofs_per_second:8.2f}")


if __name__ == "__main__":
    main()
