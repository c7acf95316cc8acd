"""`cairn import` end to end: rows of a spreadsheet per second, beside the batch endpoint.

Each round writes a CSV of `--rows` rows (origins of lots and, on the next
line, their transfer to a refiner: the transfer's `prev` is filled from the
origin signed just before), then, against gunicorn (2 workers) and a
sequencer process on PostgreSQL:

1. `cairn import FILE --validate`: every row signed and checked (POST
   /attestations/validate), nothing appended;
2. `cairn import FILE --in-flight N` for each N of `--in-flight` (a file
   each, in turn, the order reversed every other round): every row signed,
   journaled and appended, N chunks posted at once;
3. the batch endpoint's own rate, before the validation and after the
   imports (their mean): as many envelopes, signed up front, posted in
   batches of 1,000 by one client, one after another; and then from as
   many clients side by side as the most chunks in flight.

The commands run as a supplier runs them (`python -m cairn_core.client`, a
process each, its start included). The host's speed drifts, so the figures
that matter are the ratios measured in the same round: the import's rate to
the batch endpoint's, N chunks in flight to one, and the validation's time
to the import's. Where the time goes: the CPU each row costs `cairn` (the
process), gunicorn, the sequencer and PostgreSQL (every postgres process on
the host: others' work included).

    python bench/import.py [--rows 5000] [--rounds 3] [--in-flight 1,3] [--port P]

Goals (2-core machine): the import at least 1,500 rows/s; the validation
within 1.5 times the import's time.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    PYTHON,
    ROOT,
    CpuMeter,
    Server,
    fresh_database,
    median,
    post_all,
    setup_django,
)
from bench.ingest import Supplier, batch_bodies, sign_origins  # noqa: E402

HEADER = ["type", "batch", "occurred_at", "material", "quantity", "unit", "value_added_usd", "minerals",
          "activity", "site_name", "site_country", "to"]  # fmt: skip
REFINER = "bench-refinery"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000, help="rows of each round's file (even)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900, help="seconds the whole run may take")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    parser.add_argument(
        "--in-flight",
        default="1,3",
        help="chunks in flight for each import of a round, comma-separated (--validate is set beside the last)",
    )
    return parser.parse_args()


def make_supplier(home: Path) -> tuple[Supplier, Path]:
    """A supplier with a registered key (its PEM in `home`) and a refiner to send lots to."""
    from cairn_core import dsse
    from cairn_core.client import keys
    from provenance.keys import register_key
    from provenance.organizations import create_organization

    create_organization(slug=REFINER, name="Bench refinery", country="JP", roles=["supplier"])
    org, token = create_organization(slug="bench-import-mine", name="Bench mine", country="AU", roles=["supplier"])
    private_key = keys.generate()
    key, _ = register_key(organization=org, public_key_b64=dsse.b64encode(dsse.raw_public_key(private_key)))
    pem = keys.write(home / "mine.pem", private_key)
    return Supplier(org.slug, token.key, key.keyid, private_key), pem


def write_file(path: Path, slug: str, rows: int, tag: str) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for number in range(rows // 2):
            lot, when = f"{slug}:{tag}-{number}", "2024-05-01T08:00:00Z"
            writer.writerow(["origin", lot, when, "spodumene", "100", "kg", "120", "lithium=6", "extraction",
                             "Pilgangoora", "AU", ""])  # fmt: skip
            writer.writerow(["transfer", lot, when, "", "", "", "", "", "", "", "", REFINER])
    return path


def cairn(env: dict[str, str], *args: str, timeout: float) -> tuple[float, float]:
    """Run `cairn ARGS` as the supplier; its seconds, start to exit, and its CPU seconds."""
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(
        [PYTHON, "-m", "cairn_core.client", "--json", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"cairn {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return seconds, _children_cpu() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def batch_rate(port: int, supplier: Supplier, rows: int, tag: str, clients: int = 1) -> float:
    """Envelopes a second through POST /attestations/batch: `rows` signed up
    front, in batches of 1,000, each of `clients` keep-alive connections
    posting its share one request after another."""
    bodies = batch_bodies(sign_origins(supplier, rows, tag), 1000)
    connections = [HTTPConnection("127.0.0.1", port, timeout=120) for _ in range(clients)]
    seconds, statuses = post_all(
        connections, "/api/v1/attestations/batch", bodies, lambda _: {"Authorization": f"Token {supplier.token}"}
    )
    for connection in connections:
        connection.close()
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected answers to batches: {statuses}")
    return rows / seconds


def main() -> None:
    args = parse_args()
    deadline = time.monotonic() + args.timeout
    database_url = fresh_database("cairn_bench_import")
    setup_django(database_url)
    home = Path(tempfile.mkdtemp(prefix="cairn-bench-import-"))
    supplier, pem = make_supplier(home)
    with Server(database_url, workers=2, threads=8, sequencer=True, port=args.port) as server:
        env = {
            **os.environ,
            "CAIRN_URL": f"http://127.0.0.1:{server.port}",
            "CAIRN_TOKEN": supplier.token,
            "CAIRN_KEY": str(pem),
            "CAIRN_ISSUER": supplier.slug,
            "CAIRN_STATE": str(home / "witness.json"),
            "CAIRN_CONFIG": str(home / "none.toml"),
        }
        print(f"{args.rows} rows a file (origins and their transfers); gunicorn 2 workers x 8 threads, "
              "a sequencer process, PostgreSQL; cairn as a process")  # fmt: skip
        warm = write_file(home / "warm.csv", supplier.slug, 200, "warm")
        cairn(env, "import", str(warm), timeout=120)
        batch_rate(server.port, supplier, 1000, "warm-batch")
        flights = [int(n) for n in args.in_flight.split(",")]
        imports: dict[int, list[float]] = {n: [] for n in flights}
        ratios: dict[int, list[float]] = {n: [] for n in flights}
        client_cpu: dict[int, list[float]] = {n: [] for n in flights}
        meters = {n: CpuMeter() for n in flights}
        validations: list[float] = []
        batches: list[float] = []
        side_by_side: list[float] = []  # the endpoint with as many clients as the most chunks in flight
        for number in range(args.rounds):
            left = deadline - time.monotonic()
            if left <= 0:
                print("time is up: stopping before round", number + 1)
                break
            sources = {n: write_file(home / f"round-{number}-{n}.csv", supplier.slug, args.rows, f"r{number}n{n}")
                       for n in flights}  # fmt: skip
            before = batch_rate(server.port, supplier, args.rows, f"b{number}")
            validated, _ = cairn(env, "import", str(sources[flights[-1]]), "--validate", timeout=left)
            seconds: dict[int, float] = {}
            for n in flights if number % 2 == 0 else flights[::-1]:  # either order: the host drifts
                with meters[n].measure(server, args.rows):
                    seconds[n], cpu = cairn(
                        env, "import", str(sources[n]), "--in-flight", str(n),
                        timeout=max(1.0, deadline - time.monotonic()),
                    )  # fmt: skip
                client_cpu[n].append(cpu / args.rows * 1000)
            after = batch_rate(server.port, supplier, args.rows, f"a{number}")
            rate = (before + after) / 2  # measured either side of the imports: the host drifts
            batches.append(rate)
            side_by_side.append(batch_rate(server.port, supplier, args.rows, f"c{number}", clients=max(flights)))
            validations.append(validated / seconds[flights[-1]])
            line = []
            for n in flights:
                imports[n].append(args.rows / seconds[n])
                ratios[n].append(args.rows / seconds[n] / rate)
                line.append(f"{n} in flight {args.rows / seconds[n]:6.0f} rows/s ({seconds[n]:5.2f} s, ratio "
                            f"{ratios[n][-1]:4.2f})")  # fmt: skip
            print(
                f"round {number + 1}: import {'; '.join(line)}; batch endpoint {rate:6.0f} /s from one client, "
                f"{side_by_side[-1]:6.0f} /s from {max(flights)}; "
                f"--validate {validated:5.2f} s = {validations[-1]:4.2f}x the import with {flights[-1]} in flight"
            )
    if not validations:
        raise SystemExit("no round finished in time")
    for n in flights:
        print(
            f"cairn import --in-flight {n}: {median(imports[n]):6.0f} rows/s (median; goal >= 1500), ratio to the "
            f"batch endpoint {median(ratios[n]):4.2f}; CPU a row: cairn {median(client_cpu[n]):.2f} ms, "
            f"{meters[n]}"
        )
    print(
        f"batch endpoint: {median(batches):6.0f} /s from one client, {median(side_by_side):6.0f} /s from "
        f"{max(flights)} side by side (medians)"
    )
    if len(flights) > 1:
        gain = median([imports[flights[-1]][r] / imports[flights[0]][r] for r in range(len(validations))])
        print(f"{flights[-1]} in flight / {flights[0]}: {gain:4.2f}x (median of the rounds' ratios)")
    print(f"--validate {median(validations):4.2f}x the import's time (goal <= 1.5)")


if __name__ == "__main__":
    main()
