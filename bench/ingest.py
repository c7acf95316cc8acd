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

Goals (2-core machine): single posts at least 400 attestations/s and a ratio
to the no-op of at least 0.25; batches at least 1,500 attestations/s and
2.5 times the single posts' rate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def make_suppliers(count: int):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cairn_core import dsse
    from provenance.keys import register_key
    from provenance.organizations import create_organization

    suppliers = []
    for number in range(count):
        org, token = create_organization(
            slug=f"bench-mine-{number}", name=f"Bench mine {number}", country="AU", roles=["supplier"]
        )
        private_key = Ed25519PrivateKey.generate()
        key, _ = register_key(organization=org, public_key_b64=dsse.b64encode(dsse.raw_public_key(private_key)))
        suppliers.append((org.slug, token.key, key.keyid, private_key))
    return suppliers


def sign_origins(supplier, count: int, tag: str) -> list[bytes]:
    import json

    from django.utils import timezone

    from cairn_core import dsse
    from cairn_core.payload import PAYLOAD_TYPE, SCHEMA

    slug, _, keyid, private_key = supplier
    issued_at = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    bodies = []
    for number in range(count):
        payload = {
            "schema": SCHEMA,
            "type": "origin",
            "issuer": slug,
            "issued_at": issued_at,
            "activity": "extraction",
            "site": {"name": "Greenbushes", "country": "AU"},
            "outputs": [
                {
                    "batch": f"{slug}:{tag}-{number}",
                    "material": "spodumene concentrate",
                    "quantity": "1000",
                    "unit": "kg",
                    "minerals": {"lithium": "60"},
                    "value_added_usd": "1200",
                }
            ],
        }
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envelopes", type=int, default=3000, help="attestations per round")
    parser.add_argument("--batch-envelopes", type=int, default=8000, help="attestations per round for each batch size")
    parser.add_argument("--batch-sizes", default="100,1000", help="envelopes per batch submission")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--sequencer",
        choices=["process", "thread"],
        default="process",
        help="group commit in a run_sequencer process serving both workers (default), or a thread per worker",
    )
    args = parser.parse_args()

    database_url = fresh_database("cairn_bench_ingest")
    setup_django(database_url)
    suppliers = make_suppliers(args.clients)
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
    tokens = [s[1] for s in suppliers]

    def auth(position: int) -> dict:
        return {"Authorization": f"Token {tokens[position // 10**6]}"}

    noop_rates, ingest_rates = [], []
    noop_cpu, ingest_cpu = CpuMeter(), CpuMeter()
    batch_rates: dict[int, list[float]] = {size: [] for size in sizes}
    batch_cpu = {size: CpuMeter() for size in sizes}
    with Server(
        database_url, workers=args.workers, threads=args.threads, sequencer=args.sequencer == "process"
    ) as server:
        connections, pids = balanced_connections(server.port, args.clients, server.workers)
        spread = " + ".join(str(pids.count(pid)) for pid in sorted(set(pids)))
        print(
            f"signed {sum(map(len, rounds)) + sum(per_client_batch.values()) * args.clients * args.rounds} "
            f"envelopes up front; {args.clients} keep-alive clients "
            f"({spread} per worker), gunicorn {server.workers} workers x {server.threads} threads, "
            f"sequencer: {args.sequencer}, PostgreSQL"
        )
        post_all(connections, "/bench/noop", rounds[0][:400], auth)  # warm-up
        post_all(connections, "/api/v1/attestations", rounds[0], auth)
        for size in sizes:  # warm-up: the batch path's statements prepared on every connection
            post_all(
                connections,
                "/api/v1/attestations/batch",
                interleave([batch_bodies(sign_origins(s, size, f"w{size}"), size) for s in suppliers]),
                auth,
            )
        for number, bodies in enumerate(rounds[1:]):
            with noop_cpu.measure(server, len(bodies)):
                seconds, statuses = post_all(connections, "/bench/noop", bodies, auth)
            noop_rates.append(len(bodies) / seconds)
            with ingest_cpu.measure(server, len(bodies)):
                seconds, statuses = post_all(connections, "/api/v1/attestations", bodies, auth)
            if statuses != {201: len(bodies)}:
                raise SystemExit(f"unexpected answers: {statuses}")
            ingest_rates.append(len(bodies) / seconds)
            line = (
                f"  round: no-op {noop_rates[-1]:6.0f} req/s   single {ingest_rates[-1]:6.0f} /s"
                f"   ratio {ingest_rates[-1] / noop_rates[-1]:5.2f}"
            )
            for size in sizes:
                requests = batch_rounds[size][number]
                count = per_client_batch[size] * args.clients
                with batch_cpu[size].measure(server, count):
                    seconds, statuses = post_all(connections, "/api/v1/attestations/batch", requests, auth)
                if statuses != {200: len(requests)}:
                    raise SystemExit(f"unexpected answers to batches: {statuses}")
                rate = count / seconds
                batch_rates[size].append(rate)
                line += f"   batch {size}: {rate:6.0f} /s ({rate / ingest_rates[-1]:4.1f}x)"
            print(line)
    noop, ingest = median(noop_rates), median(ingest_rates)
    # Each round's ratio compares two measurements taken seconds apart, so the
    # host's drift between rounds cancels out of it.
    ratio = median([i / n for i, n in zip(ingest_rates, noop_rates, strict=True)])
    print(f"no-op DRF POST (baseline):  {noop:7.0f} req/s (median of {args.rounds})")
    print(f"attestations, single posts: {ingest:7.0f} /s    (median of {args.rounds}; goal >= 400)")
    print(f"ratio attestations/no-op:   {ratio:7.2f}       (median of the rounds' ratios; goal >= 0.25)")
    for size in sizes:
        rate = median(batch_rates[size])
        times = median([b / i for b, i in zip(batch_rates[size], ingest_rates, strict=True)])
        print(
            f"attestations, batches of {size:<4}: {rate:7.0f} /s    (median; goal >= 1500), "
            f"{times:4.1f}x single posts (median of the rounds' ratios; goal >= 2.5)"
        )
    print(f"CPU per request, no-op:       {noop_cpu}")
    print(f"CPU per request, attestation: {ingest_cpu}")
    for size in sizes:
        print(f"CPU per attestation, batches of {size}: {batch_cpu[size]}")


if __name__ == "__main__":
    main()
