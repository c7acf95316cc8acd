"""Ingest throughput: signed attestations per second through gunicorn.

Signs every envelope up front, then posts them over keep-alive HTTP from
several client threads to gunicorn (2 workers) backed by PostgreSQL, and in
the same run measures a no-op DRF POST endpoint on the same server. The
host's speed drifts, so the figure that matters is the ratio to that
baseline, printed beside the absolute rates.

Each round measures, seconds apart: the no-op endpoint, single posts (POST
/attestations, one envelope a request), and batch submissions (POST
/attestations/batch) of 100 and of 1,000 envelopes a request.

    python bench/ingest.py [--envelopes 3000] [--batch-envelopes 8000] [--clients 8] [--rounds 5]
                           [--modes process,thread,none,orm-thread,orm] [--database cairn_bench_ingest]

`--modes` measures, one after the other in the same run, what each
throughput device of the write path buys (each mode with its own no-op
baseline, its own server and its own suppliers, on one database):

- process: group commit in a run_sequencer process serving both workers
  (a batch submission of more than CAIRN_SEQUENCER_PROCESS_MAX statements
  by its worker's own thread), rows written by the hand-written SQL
  (provenance.append.sql): Cairn as deployed;
- thread: group commit in a thread of each worker, no sequencer process;
- none: no group commit (CAIRN_GROUP_COMMIT off): each request appends in
  its own transaction, under the same locks;
- orm-thread: as thread, with the rows written by the plain ORM
  (bench/orm_append.py) instead of the hand-written SQL;
- orm: as none, with the rows written by the plain ORM: a plain ORM append
  under the same locks.

Goals (2-core machine): single posts at least 400 attestations/s and a ratio
to the no-op of at least 0.25; batches at least 1,500 attestations/s and
2.5 times the single posts' rate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    CpuMeter,
    Server,
    balanced_connections,
    fresh_database,
    median,
    post_all,
    setup_django,
)
from cairn_core.payload import PAYLOAD_TYPE, SCHEMA  # noqa: E402


class Supplier(NamedTuple):
    slug: str
    token: str
    keyid: str
    private_key: Ed25519PrivateKey


def make_suppliers(count: int, prefix: str = "bench") -> list[Supplier]:
    from cairn_core import dsse
    from provenance.keys import register_key
    from provenance.organizations import create_organization

    suppliers = []
    for number in range(count):
        org, token = create_organization(
            slug=f"{prefix}-mine-{number}", name=f"Bench mine {number}", country="AU", roles=["supplier"]
        )
        private_key = Ed25519PrivateKey.generate()
        key, _ = register_key(organization=org, public_key_b64=dsse.b64encode(dsse.raw_public_key(private_key)))
        suppliers.append(Supplier(org.slug, token.key, key.keyid, private_key))
    return suppliers


def origin_payload(slug: str, issued_at: str, batch: str) -> dict[str, object]:
    return {
        "schema": SCHEMA,
        "type": "origin",
        "issuer": slug,
        "issued_at": issued_at,
        "activity": "extraction",
        "site": {"name": "Greenbushes", "country": "AU"},
        "outputs": [
            {
                "batch": batch,
                "material": "spodumene concentrate",
                "quantity": "1000",
                "unit": "kg",
                "minerals": {"lithium": "60"},
                "value_added_usd": "1200",
            }
        ],
    }


def sign_origins(supplier: Supplier, count: int, tag: str) -> list[bytes]:
    from django.utils import timezone

    from cairn_core import dsse

    slug, _, keyid, private_key = supplier
    issued_at = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    bodies = []
    for number in range(count):
        payload = origin_payload(slug, issued_at, f"{slug}:{tag}-{number}")
        envelope = dsse.sign(PAYLOAD_TYPE, json.dumps(payload).encode(), [(keyid, private_key)])
        bodies.append(json.dumps(envelope.to_stored()).encode())
    return bodies


def batch_bodies(envelopes: list[bytes], size: int) -> list[bytes]:
    """The envelopes as batch submissions of `size`, each body as a client sends it."""
    return [
        b'{"envelopes":[' + b",".join(envelopes[start : start + size]) + b"]}"
        for start in range(0, len(envelopes), size)
    ]


def interleave(per_client: list[list[bytes]]) -> list[bytes]:
    """Order bodies so that post_all's round-robin split gives client n the n-th list."""
    clients = len(per_client)
    return [per_client[i % clients][i // clients] for i in range(clients * len(per_client[0]))]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--envelopes", type=int, default=3000, help="attestations per round")
    parser.add_argument("--batch-envelopes", type=int, default=8000, help="attestations per round for each batch size")
    parser.add_argument("--batch-sizes", default="100,1000", help="envelopes per batch submission")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--modes",
        default="process",
        help=f"comma-separated, measured in turn: {', '.join(MODES)} (see above; default: process, as deployed)",
    )
    parser.add_argument("--database", default="cairn_bench_ingest", help="dropped and created")
    args = parser.parse_args()
    args.modes = [mode for mode in args.modes.split(",") if mode]
    unknown = [mode for mode in args.modes if mode not in MODES]
    if unknown:
        parser.error(f"unknown modes: {unknown}")
    return args


class Mode(NamedTuple):
    sequencer_process: bool
    env: dict[str, str]


# The server each mode runs: a sequencer process or not, and its environment.
MODES = {
    "process": Mode(True, {}),
    "thread": Mode(False, {}),
    "none": Mode(False, {"CAIRN_GROUP_COMMIT": "false"}),
    "orm-thread": Mode(False, {"CAIRN_BENCH_ORM_APPEND": "1"}),
    "orm": Mode(False, {"CAIRN_GROUP_COMMIT": "false", "CAIRN_BENCH_ORM_APPEND": "1"}),
}


@dataclass
class Workload:
    """Every body the run posts, signed up front."""

    suppliers: list[Supplier]
    rounds: list[list[bytes]]  # single posts: a warm-up round, then one per measured round
    sizes: list[int]
    per_client_batch: dict[int, int]  # envelopes each client posts a round, for each batch size
    batch_rounds: dict[int, list[list[bytes]]]  # for each batch size, each round's batch bodies

    def auth(self, position: int) -> dict[str, str]:
        """post_all's headers: client n posts as supplier n."""
        return {"Authorization": f"Token {self.suppliers[position // 10**6].token}"}

    @property
    def signed(self) -> int:
        clients, batch_rounds = len(self.suppliers), len(next(iter(self.batch_rounds.values()), []))
        return sum(map(len, self.rounds)) + sum(self.per_client_batch.values()) * clients * batch_rounds


def sign_workload(args: argparse.Namespace, prefix: str = "bench") -> Workload:
    suppliers = make_suppliers(args.clients, prefix)
    per_client = args.envelopes // args.clients
    rounds = [interleave([sign_origins(s, per_client, f"r{r}") for s in suppliers]) for r in range(args.rounds + 1)]
    sizes = [int(size) for size in args.batch_sizes.split(",") if size]
    # Each client posts at least two requests a round, so that one request's
    # checks overlap another's append (a single request each would measure
    # their sum).
    per_client_batch = {size: max(args.batch_envelopes // args.clients, 2 * size) for size in sizes}
    # Client n posts supplier n's envelopes, in batches (interleave gives client n the n-th list).
    batch_rounds = {
        size: [
            interleave([batch_bodies(sign_origins(s, per_client_batch[size], f"b{size}r{r}"), size) for s in suppliers])
            for r in range(args.rounds)
        ]
        for size in sizes
    }
    return Workload(suppliers, rounds, sizes, per_client_batch, batch_rounds)


@dataclass
class Figures:
    """Each round's rates and the CPU they cost, by what was posted."""

    sizes: list[int]
    noop_rates: list[float] = field(default_factory=list)
    ingest_rates: list[float] = field(default_factory=list)
    noop_cpu: CpuMeter = field(default_factory=CpuMeter)
    ingest_cpu: CpuMeter = field(default_factory=CpuMeter)
    batch_rates: dict[int, list[float]] = field(default_factory=dict)
    batch_cpu: dict[int, CpuMeter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.batch_rates = {size: [] for size in self.sizes}
        self.batch_cpu = {size: CpuMeter() for size in self.sizes}


def warm_up(connections: list[HTTPConnection], workload: Workload) -> None:
    post_all(connections, "/bench/noop", workload.rounds[0][:400], workload.auth)
    post_all(connections, "/api/v1/attestations", workload.rounds[0], workload.auth)
    for size in workload.sizes:  # the batch path's statements prepared on every connection
        bodies = interleave([batch_bodies(sign_origins(s, size, f"w{size}"), size) for s in workload.suppliers])
        post_all(connections, "/api/v1/attestations/batch", bodies, workload.auth)


def measure_round(
    connections: list[HTTPConnection], server: Server, workload: Workload, number: int, figures: Figures
) -> str:
    """One round, seconds apart: the no-op, single posts, then each batch size; its line."""
    bodies = workload.rounds[number + 1]
    with figures.noop_cpu.measure(server, len(bodies)):
        seconds, statuses = post_all(connections, "/bench/noop", bodies, workload.auth)
    figures.noop_rates.append(len(bodies) / seconds)
    with figures.ingest_cpu.measure(server, len(bodies)):
        seconds, statuses = post_all(connections, "/api/v1/attestations", bodies, workload.auth)
    if statuses != {201: len(bodies)}:
        raise SystemExit(f"unexpected answers: {statuses}")
    single, noop = len(bodies) / seconds, figures.noop_rates[-1]
    figures.ingest_rates.append(single)
    line = f"  round: no-op {noop:6.0f} req/s   single {single:6.0f} /s   ratio {single / noop:5.2f}"
    for size in workload.sizes:
        rate = measure_batches(connections, server, workload, number, size, figures)
        line += f"   batch {size}: {rate:6.0f} /s ({rate / single:4.1f}x)"
    return line


def measure_batches(
    connections: list[HTTPConnection], server: Server, workload: Workload, number: int, size: int, figures: Figures
) -> float:
    requests = workload.batch_rounds[size][number]
    count = workload.per_client_batch[size] * len(workload.suppliers)
    with figures.batch_cpu[size].measure(server, count):
        seconds, statuses = post_all(connections, "/api/v1/attestations/batch", requests, workload.auth)
    if statuses != {200: len(requests)}:
        raise SystemExit(f"unexpected answers to batches: {statuses}")
    rate = count / seconds
    figures.batch_rates[size].append(rate)
    return rate


def report(figures: Figures, rounds: int) -> None:
    report_single_posts(figures, rounds)
    report_batches(figures)
    report_cpu(figures)


def report_single_posts(figures: Figures, rounds: int) -> None:
    noop, ingest = median(figures.noop_rates), median(figures.ingest_rates)
    # Each round's ratio compares two measurements taken seconds apart, so the
    # host's drift between rounds cancels out of it.
    ratio = median([i / n for i, n in zip(figures.ingest_rates, figures.noop_rates, strict=True)])
    print(f"no-op DRF POST (baseline):  {noop:7.0f} req/s (median of {rounds})")
    print(f"attestations, single posts: {ingest:7.0f} /s    (median of {rounds}; goal >= 400)")
    print(f"ratio attestations/no-op:   {ratio:7.2f}       (median of the rounds' ratios; goal >= 0.25)")


def report_batches(figures: Figures) -> None:
    for size in figures.sizes:
        rate = median(figures.batch_rates[size])
        times = median([b / i for b, i in zip(figures.batch_rates[size], figures.ingest_rates, strict=True)])
        print(
            f"attestations, batches of {size:<4}: {rate:7.0f} /s    (median; goal >= 1500), "
            f"{times:4.1f}x single posts (median of the rounds' ratios; goal >= 2.5)"
        )


def report_cpu(figures: Figures) -> None:
    print(f"CPU per request, no-op:       {figures.noop_cpu}")
    print(f"CPU per request, attestation: {figures.ingest_cpu}")
    for size in figures.sizes:
        print(f"CPU per attestation, batches of {size}: {figures.batch_cpu[size]}")


def measure_mode(args: argparse.Namespace, database_url: str, mode: str) -> Figures:
    """Every round of one mode, on its own server and suppliers; its report."""
    workload = sign_workload(args, prefix=f"bench-{mode}")
    figures = Figures(workload.sizes)
    saved = dict(os.environ)
    os.environ.update(MODES[mode].env)
    try:
        with Server(
            database_url, workers=args.workers, threads=args.threads, sequencer=MODES[mode].sequencer_process
        ) as server:
            connections, pids = balanced_connections(server.port, args.clients, server.workers)
            spread = " + ".join(str(pids.count(pid)) for pid in sorted(set(pids)))
            print(
                f"mode {mode}: signed {workload.signed} envelopes up front; {args.clients} keep-alive clients "
                f"({spread} per worker), gunicorn {server.workers} workers x {server.threads} threads, PostgreSQL"
            )
            warm_up(connections, workload)
            for number in range(args.rounds):
                print(measure_round(connections, server, workload, number, figures))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    report(figures, args.rounds)
    return figures


def table(results: dict[str, Figures]) -> None:
    """One line a mode: medians, and each ratio the goals name (medians of the rounds' ratios)."""
    sizes = next(iter(results.values())).sizes
    head = "| mode | no-op req/s | single /s | single/no-op |"
    head += "".join(f" batch {size} /s | batch {size}/single |" for size in sizes)
    print(head)
    print("|" + "---|" * (4 + 2 * len(sizes)))
    for mode, figures in results.items():
        ratio = median([i / n for i, n in zip(figures.ingest_rates, figures.noop_rates, strict=True)])
        line = f"| {mode} | {median(figures.noop_rates):.0f} | {median(figures.ingest_rates):.0f} | {ratio:.2f} |"
        for size in sizes:
            times = median([b / i for b, i in zip(figures.batch_rates[size], figures.ingest_rates, strict=True)])
            line += f" {median(figures.batch_rates[size]):.0f} | {times:.1f}x |"
        print(line)


def main() -> None:
    args = parse_args()
    database_url = fresh_database(args.database)
    setup_django(database_url)
    results = {mode: measure_mode(args, database_url, mode) for mode in args.modes}
    if len(results) > 1:
        table(results)


if __name__ == "__main__":
    main()
