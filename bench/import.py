"""`cairn import` end to end: rows of a spreadsheet per second, beside the batch endpoint.

Each round writes a CSV of `--rows` rows (origins of lots and, on the next
line, their transfer to a refiner: the transfer's `prev` is filled from the
origin signed just before), then, against gunicorn (2 workers) and a
sequencer process on PostgreSQL:

1. `cairn import FILE --validate`: every row signed and checked (POST
   /attestations/validate), nothing appended;
2. `cairn import FILE`: every row signed, journaled and appended;
3. the batch endpoint's own rate, before the validation and after the
   import (their mean): as many envelopes, signed up front, posted in
   batches of 1,000 by one client, one after another as the importer
   posts them.

The commands run as a supplier runs them (`python -m cairn_core.client`, a
process each, its start included). The host's speed drifts, so the figures
that matter are the ratios measured in the same round: the import's rate to
the batch endpoint's, and the validation's time to the import's.

    python bench/import.py [--rows 5000] [--rounds 3] [--timeout 900]

Goals (2-core machine): the import at least 1,500 rows/s; the validation
within 1.5 times the import's time.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, Server, fresh_database, median, post_all, setup_django  # noqa: E402
from bench.ingest import Supplier, batch_bodies, sign_origins  # noqa: E402

HEADER = ["type", "batch", "occurred_at", "material", "quantity", "unit", "value_added_usd", "minerals",
          "activity", "site_name", "site_country", "to"]  # fmt: skip
REFINER = "bench-refinery"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000, help="rows of each round's file (even)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900, help="seconds the whole run may take")
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


def cairn(env: dict[str, str], *args: str, timeout: float) -> float:
    """Run `cairn ARGS` as the supplier; its seconds, start to exit."""
    start = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "cairn_core.client", "--json", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"cairn {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return seconds


def batch_rate(port: int, supplier: Supplier, rows: int, tag: str) -> float:
    """Envelopes a second through POST /attestations/batch: `rows` signed up
    front, in batches of 1,000, one request after another."""
    bodies = batch_bodies(sign_origins(supplier, rows, tag), 1000)
    connection = HTTPConnection("127.0.0.1", port, timeout=120)
    seconds, statuses = post_all(
        [connection], "/api/v1/attestations/batch", bodies, lambda _: {"Authorization": f"Token {supplier.token}"}
    )
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
    with Server(database_url, workers=2, threads=8, sequencer=True) as server:
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
        imports, validations, batches = [], [], []
        for number in range(args.rounds):
            left = deadline - time.monotonic()
            if left <= 0:
                print("time is up: stopping before round", number + 1)
                break
            source = write_file(home / f"round-{number}.csv", supplier.slug, args.rows, f"r{number}")
            before = batch_rate(server.port, supplier, args.rows, f"b{number}")
            validated = cairn(env, "import", str(source), "--validate", timeout=left)
            imported = cairn(env, "import", str(source), timeout=max(1.0, deadline - time.monotonic()))
            after = batch_rate(server.port, supplier, args.rows, f"a{number}")
            rate = (before + after) / 2  # measured either side of the import: the host drifts
            imports.append(args.rows / imported)
            validations.append(validated / imported)
            batches.append(rate)
            print(
                f"round {number + 1}: import {args.rows / imported:6.0f} rows/s ({imported:5.2f} s), "
                f"batch endpoint {rate:6.0f} /s, ratio {args.rows / imported / rate:4.2f}; "
                f"--validate {validated:5.2f} s = {validated / imported:4.2f}x the import"
            )
    if not imports:
        raise SystemExit("no round finished in time")
    ratio = median([i / b for i, b in zip(imports, batches, strict=True)])
    print(
        f"cairn import: {median(imports):6.0f} rows/s (median; goal >= 1500), batch endpoint "
        f"{median(batches):6.0f} /s, ratio {ratio:4.2f}; --validate {median(validations):4.2f}x the "
        "import's time (goal <= 1.5)"
    )


if __name__ == "__main__":
    main()
