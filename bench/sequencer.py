"""The cost of the sequencer process checking again what workers hand over.

A sequencer process (provenance.append.process.Server, forked from this
one) serves appends on a Unix socket to client threads that send
statements prepared ahead, as web workers do, on PostgreSQL: single
statements (one a request) and batches of 100 (one batch submission a
request). Each round measures, seconds apart, two sequencers:

* baseline: one that takes the worker's word for its signature checks (as
  before it checked again): each statement's outcomes are the ones the
  worker found, and only what needs the ledger is checked under the lock;
* re-checking: Cairn's, `checks.append_handed_over`: checks 1 to 4 again
  and every signature checked by the sequencer against its registered key.

Both parse each envelope from the wire the same way. The host's speed
drifts, so the figure that matters is each round's ratio of the
re-checking rate to the baseline's, printed beside the absolute rates.

    python bench/sequencer.py [--singles 2000] [--batched 4000] [--clients 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, median, setup_django  # noqa: E402
from bench.ingest import Supplier, make_suppliers, sign_origins  # noqa: E402

if TYPE_CHECKING:
    from provenance.append.pending import CheckedSignature, Outcome, Pending

VARIANTS = ("baseline", "re-checking")
Claimed = dict[str, tuple["CheckedSignature", ...]]
Rates = dict[int, dict[str, list[float]]]


def prepared(suppliers: list[Supplier], per_supplier: int, tag: str) -> list[list[Pending]]:
    """Each supplier's statements as a worker prepares them (checks 1 to 4, signatures checked ahead)."""
    from django.utils import timezone

    from provenance.append import checks
    from provenance.models import Organization

    lists = []
    for supplier in suppliers:
        caller = checks.Caller.of(Organization.objects.get(slug=supplier.slug))
        bodies = sign_origins(supplier, per_supplier, tag)
        lists.append([checks.prepare_statement(body, caller, timezone.now()) for body in bodies])
    return lists


def serve(path: str, variant: str, claimed: Claimed) -> None:
    """The forked sequencer process: serve until SIGTERM."""
    from django.db import connections

    from provenance.append import checks
    from provenance.append.process import Server

    connections.close_all()

    def trusting(items: list[Pending]) -> list[Outcome]:
        taken = [dataclasses.replace(item, verified=claimed[item.envelope.entry_hash]) for item in items]
        return checks.append_batch_isolated(taken)

    server = Server(path, append=trusting if variant == "baseline" else checks.append_handed_over)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    server.serve_forever()


def started(path: str, variant: str, claimed: Claimed) -> multiprocessing.context.ForkProcess:
    from django.db import connections

    from provenance.append import process

    connections.close_all()
    child = multiprocessing.get_context("fork").Process(target=serve, args=(path, variant, claimed))
    child.start()
    deadline = time.monotonic() + 30
    while not process.answers(path):
        if time.monotonic() > deadline or not child.is_alive():
            raise SystemExit("the sequencer did not start")
        time.sleep(0.05)
    return child


def send_all(path: str, requests: list[list[list[Pending]]]) -> float:
    """Each client thread sends its requests in turn; the seconds it all took."""
    from django.utils import timezone

    from provenance.append import process

    failures: list[str] = []

    def client(mine: list[list[Pending]]) -> None:
        for request in mine:
            fresh = [dataclasses.replace(item, now=timezone.now()) for item in request]
            outcomes = process.submit(path, fresh, timeout=60)
            failures.extend(repr(outcome) for outcome in outcomes if getattr(outcome, "status", None) != 201)
        process._forget(getattr(process._local, "sock", None))

    threads = [threading.Thread(target=client, args=(mine,)) for mine in requests]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} statements not logged, e.g. {failures[0]}")
    return time.monotonic() - began


def measure(variant: str, lists: list[list[Pending]], size: int) -> float:
    """Statements per second through a `variant` sequencer, `size` a request."""
    claimed = {item.envelope.entry_hash: item.verified for mine in lists for item in mine}
    path = os.path.join(tempfile.mkdtemp(prefix="cairn-bench-"), "sequencer.sock")
    child = started(path, variant, claimed)
    try:
        requests = [[mine[start : start + size] for start in range(0, len(mine), size)] for mine in lists]
        seconds = send_all(path, requests)
    finally:
        child.terminate()  # SIGTERM: the server stops after the batch in hand
        child.join(30)
    return sum(map(len, lists)) / seconds


def recheck_alone(lists: list[list[Pending]]) -> None:
    """What the re-check costs a statement by itself, on one core."""
    from provenance.append import checks

    items = [item for mine in lists for item in mine]
    began = time.perf_counter()
    for item in items:
        checks.recheck(item)
    seconds = time.perf_counter() - began
    print(
        f"re-check alone: {seconds / len(items) * 1e6:.0f} us a statement ({len(items) / seconds:,.0f}/s on one core)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--singles", type=int, default=2000, help="single statements a variant, a round")
    parser.add_argument("--batched", type=int, default=4000, help="statements in batches of 100 a variant, a round")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


def run_round(suppliers: list[Supplier], args: argparse.Namespace, number: int, rates: Rates) -> None:
    line = f"  round {number + 1}:"
    for size, total in ((1, args.singles), (100, args.batched)):
        per = dict.fromkeys(VARIANTS, 0.0)
        for variant in VARIANTS:
            lists = prepared(suppliers, total // len(suppliers), f"r{number}-{size}-{variant}")
            per[variant] = measure(variant, lists, size)
            rates[size][variant].append(per[variant])
        ratio = per["re-checking"] / per["baseline"]
        rates[size]["ratio"].append(ratio)
        line += f"   {size:>3} a request: baseline {per['baseline']:6.0f}/s re-checking {per['re-checking']:6.0f}/s"
        line += f" ({ratio:4.2f})"
    print(line, flush=True)


def main() -> None:
    args = parse_args()
    setup_django(fresh_database("cairn_bench_sequencer"))
    suppliers = make_suppliers(args.clients)
    rates: Rates = {size: {"baseline": [], "re-checking": [], "ratio": []} for size in (1, 100)}
    measure("re-checking", prepared(suppliers, 20, "warm"), 1)
    recheck_alone(prepared(suppliers, 1000 // len(suppliers), "alone"))
    print(f"sequencer process on PostgreSQL, {args.clients} clients, {args.rounds} rounds", flush=True)
    for number in range(args.rounds):
        run_round(suppliers, args, number, rates)
    for size, figures in rates.items():
        baseline, rechecking, ratio = (median(figures[key]) for key in ("baseline", "re-checking", "ratio"))
        print(
            f"{size:>3} a request: baseline {baseline:6.0f}/s, re-checking {rechecking:6.0f}/s, "
            f"ratio {ratio:4.2f} (medians of {args.rounds} rounds)"
        )


if __name__ == "__main__":
    main()
