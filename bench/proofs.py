"""Proof latency over HTTP on a 1,000,000-entry log in PostgreSQL.

Bulk-loads a log of synthetic entries (COPY: leaves and every completed
perfect subtree, as the write path stores them), starts gunicorn, and asks
for random inclusion proofs (random index, random tree size up to the log's)
and random consistency proofs over one keep-alive connection. Prints latency
percentiles and the rows each proof reads: the LogState row plus the stored
hashes the proof needs (O(log n), fetched in one query). A sample of proofs
is verified against the root at its size.

    python bench/proofs.py [--entries 1000000] [--requests 2000]

Goal: p50 under 10 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Server, fresh_database, setup_django  # noqa: E402


def bulk_load(count: int) -> None:
    from django.db import connection

    from cairn_core import merkle
    from cairn_core.entries import stored_leaf_input
    from provenance.models import LogState, MerkleNode, Organization

    started = time.perf_counter()
    org = Organization.objects.create(slug="bench-proofs", name="Bench", country="AU", roles=["supplier"])
    frontier: list[bytes] = []
    with connection.cursor() as cursor:
        raw = cursor.cursor
        entry_copy = (
            "COPY provenance_entry (index, entry_hash, envelope, integrated_time, leaf_hash, type,"
            " issuer_id, issued_at, occurred_at, statement) FROM STDIN"
        )
        nodes: list[tuple[int, str]] = []
        with raw.copy(entry_copy) as entries:
            for index in range(count):
                envelope = f'{{"synthetic":{index}}}'
                leaf = merkle.leaf_hash(stored_leaf_input(envelope, 1700000000))
                frontier, completed = merkle.append_to_frontier(frontier, index, leaf)
                nodes += [(MerkleNode.node_id(level, position), node.hex()) for level, position, node in completed]
                entries.write_row(
                    (
                        index,
                        hashlib.sha256(leaf).hexdigest(),
                        envelope,
                        1700000000,
                        leaf.hex(),
                        "origin",
                        org.slug,
                        "2024-01-01T00:00:00Z",
                        "2024-01-01T00:00:00Z",
                        "{}",
                    )
                )
                if index % 100_000 == 0:
                    print(f"\rloading {index}/{count}", end="", file=sys.stderr)
        with raw.copy("COPY provenance_merklenode (id, hash) FROM STDIN") as copy:
            for row in nodes:
                copy.write_row(row)
        cursor.execute("ANALYZE provenance_entry")
        cursor.execute("ANALYZE provenance_merklenode")
    LogState.objects.update_or_create(id=1, defaults={"size": count, "frontier": [node.hex() for node in frontier]})
    print(
        f"\rloaded {count} entries and {len(nodes)} nodes in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )


def fetch(conn: http.client.HTTPConnection, path: str) -> tuple[float, dict]:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
    return elapsed, json.loads(body)


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {1000 * cuts[49]:6.2f} ms   p90 {1000 * cuts[89]:6.2f} ms   p99 {1000 * cuts[98]:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    database_url = fresh_database("cairn_bench_proofs")
    setup_django(database_url)
    bulk_load(args.entries)

    from cairn_core import merkle
    from provenance import tlog

    size, rng = args.entries, random.Random(9162)
    inclusion = []
    for _ in range(args.requests):
        tree_size = rng.randint(1, size)
        inclusion.append((rng.randrange(tree_size), tree_size))
    consistency = []
    for _ in range(args.requests):
        second = rng.randint(1, size)
        consistency.append((rng.randint(0, second), second))
    with Server(database_url, workers=2, threads=2) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        fetch(conn, "/api/v1/log/proof/inclusion?index=0&tree_size=1")  # warm-up
        inclusion_times, consistency_times = [], []
        for number, (index, tree_size) in enumerate(inclusion):
            elapsed, body = fetch(conn, f"/api/v1/log/proof/inclusion?index={index}&tree_size={tree_size}")
            inclusion_times.append(elapsed)
            if number < 50:
                proof = [bytes.fromhex(item) for item in body["hashes"]]
                root = tlog.root_at(tree_size)
                assert merkle.verify_inclusion(index, tree_size, bytes.fromhex(body["leaf_hash"]), proof, root)
        for number, (first, second) in enumerate(consistency):
            elapsed, body = fetch(conn, f"/api/v1/log/proof/consistency?first={first}&second={second}")
            consistency_times.append(elapsed)
            if number < 50:
                proof = [bytes.fromhex(item) for item in body["hashes"]]
                assert merkle.verify_consistency(first, second, tlog.root_at(first), tlog.root_at(second), proof)
        conn.close()

    def rows(ranges_list):
        counts = [1 + len(merkle.nodes_for(ranges)) for ranges in ranges_list]
        return f"rows read per proof: mean {statistics.mean(counts):.1f}, max {max(counts)}"

    inclusion_rows = rows([[(i, i + 1), *merkle.inclusion_ranges(i, n)] for i, n in inclusion])
    consistency_rows = rows([merkle.consistency_ranges(m, n) for m, n in consistency])
    print(f"log size {size:,}; {args.requests} requests each, one keep-alive connection")
    print(f"inclusion:   {percentiles(inclusion_times)}   {inclusion_rows}")
    print(f"consistency: {percentiles(consistency_times)}   {consistency_rows}")
    print("goal: p50 under 10 ms")


if __name__ == "__main__":
    main()
