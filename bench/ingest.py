"""Ingest throughput: signed attestations per second through gunicorn.

Signs every envelope up front, then posts them over keep-alive HTTP from
several client threads to gunicorn (2 workers) backed by PostgreSQL, and in
the same run measures a no-op DRF POST endpoint on the same server. The
host's speed drifts, so the figure that matters is the ratio to that
baseline, printed beside the absolute rates.

    python bench/ingest.py [--envelopes 3000] [--clients 8] [--rounds 3]

Goal (2-core machine): at least 400 attestations/s and a ratio of at least 0.25.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Server, fresh_database, median, post_all, setup_django  # noqa: E402


def make_suppliers(count: int):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from provenance import dsse
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

    from provenance import dsse
    from provenance.payload import PAYLOAD_TYPE, SCHEMA

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


def interleave(per_client: list[list[bytes]]) -> list[bytes]:
    """Order bodies so that post_all's round-robin split gives client n the n-th list."""
    clients = len(per_client)
    return [per_client[i % clients][i // clients] for i in range(clients * len(per_client[0]))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envelopes", type=int, default=3000, help="attestations per round")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    database_url = fresh_database("cairn_bench_ingest")
    setup_django(database_url)
    suppliers = make_suppliers(args.clients)
    per_client = args.envelopes // args.clients
    rounds = [interleave([sign_origins(s, per_client, f"r{r}") for s in suppliers]) for r in range(args.rounds + 1)]
    tokens = [s[1] for s in suppliers]

    def auth(position: int) -> dict:
        return {"Authorization": f"Token {tokens[position // 10**6]}"}

    print(
        f"signed {sum(map(len, rounds))} envelopes up front; {args.clients} keep-alive clients, "
        f"gunicorn 2 workers x 8 threads, PostgreSQL"
    )
    noop_rates, ingest_rates = [], []
    with Server(database_url) as server:
        post_all(server.port, "/bench/noop", rounds[0][:400], auth, args.clients)  # warm-up
        post_all(server.port, "/api/v1/attestations", rounds[0], auth, args.clients)
        for bodies in rounds[1:]:
            seconds, statuses = post_all(server.port, "/bench/noop", bodies, auth, args.clients)
            noop_rates.append(len(bodies) / seconds)
            seconds, statuses = post_all(server.port, "/api/v1/attestations", bodies, auth, args.clients)
            if statuses != {201: len(bodies)}:
                raise SystemExit(f"unexpected answers: {statuses}")
            ingest_rates.append(len(bodies) / seconds)
            print(f"  round: no-op {noop_rates[-1]:7.0f} req/s   attestations {ingest_rates[-1]:7.0f} /s")
    noop, ingest = median(noop_rates), median(ingest_rates)
    print(f"no-op DRF POST (baseline):  {noop:7.0f} req/s (median of {args.rounds})")
    print(f"attestations, single posts: {ingest:7.0f} /s    (median of {args.rounds}; goal >= 400)")
    print(f"ratio attestations/no-op:   {ingest / noop:7.2f}       (goal >= 0.25)")


if __name__ == "__main__":
    main()
