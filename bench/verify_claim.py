"""Verification latency of one claim with a large DAG, beside its floor.

Builds, through the real write path, a claim whose upstream DAG has about
1,000 entries and 10,000 edges:

    250 origins (lithium, or nickel and cobalt; AU, CL, ID, CD)
    -> 250 refining steps, 12 origins each             (3,000 edges)
    -> 200 cathode-material steps, 15 inputs each      (3,000 edges)
    -> 200 transfers to the cell maker
    -> 100 electrode steps (manufacturing), 32 inputs  (3,200 edges)
    -> 10 modules (assembly), 100 inputs each          (1,000 edges)
    -> 1 pack from the 10 modules, and the claim

publishes a checkpoint and refreshes the planner's statistics, then
measures in the same run:

1. `audit.engine.verify_claim(vin)`: load, integrity, rules, signed report,
   stored row (goal: under 500 ms);
2. the floor: the bare recursive fetch of the same DAG (the engine's CTE and
   the entries' envelopes and keys) plus the bare Ed25519 checks of every
   signature of those entries;
3. their ratio (goal: at most 2).

    DATABASE_URL=postgres://... python bench/verify_claim.py [--runs 9] [--vin VIN]

Verification and floor runs alternate and the ratio is taken per pair, so
that both see the same load on a shared machine; medians and bests are
printed. Without DATABASE_URL it uses
postgres://postgres@127.0.0.1:5432/cairn_bench_claim, created if missing
(and migrated). Each run adds its own organisations, so a database can be
reused.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import setup_django  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/cairn_bench_claim"
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def setup(database_url: str) -> None:
    if database_url == DEFAULT_URL:
        _create_if_missing("cairn_bench_claim")
    setup_django(database_url, settings="config.settings")


def _create_if_missing(name: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


# --- building the claim -------------------------------------------------------


class Builder:
    """Signs statements as a client would and appends them through ingest."""

    def __init__(self, run: str) -> None:
        from django.utils import timezone

        self.run = run
        self.issued_at = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        self.miner = self.party(f"bench-{run}-mine", ["supplier"], "AU")
        self.maker = self.party(f"bench-{run}-cells", ["manufacturer"], "US")
        self.heads: dict[str, str] = {}

    def party(self, slug: str, roles: list[str], country: str):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from cairn_core import dsse
        from provenance.keys import register_key
        from provenance.organizations import create_organization

        org, _ = create_organization(slug=slug, name=slug, country=country, roles=roles)
        private_key = Ed25519PrivateKey.generate()
        public = dsse.b64encode(dsse.raw_public_key(private_key))
        key, _ = register_key(organization=org, public_key_b64=public)
        return org, key.keyid, private_key

    def post(self, party, kind: str, **fields) -> str:
        from cairn_core import dsse
        from cairn_core.payload import PAYLOAD_TYPE, SCHEMA
        from provenance.append import checks

        org, keyid, private_key = party
        payload = {"schema": SCHEMA, "type": kind, "issuer": org.slug, "issued_at": self.issued_at}
        payload.update(fields)
        envelope = dsse.sign(PAYLOAD_TYPE, json.dumps(payload).encode(), [(keyid, private_key)])
        body = json.dumps(envelope.to_stored()).encode()
        entry = checks.append_attestation(body, acting_org=org).entry
        for batch in (
            [item["batch"] for item in fields.get("outputs", [])]
            + [item["batch"] for item in fields.get("inputs", [])]
            + ([fields["batch"]] if "batch" in fields else [])
        ):
            self.heads[batch] = entry.entry_hash
        return entry.entry_hash

    def origin(self, number: int) -> str:
        batch = f"{self.miner[0].slug}:ore-{number}"
        minerals = {"lithium": "60"} if number % 2 else {"nickel": "30", "cobalt": "8"}
        self.post(
            self.miner,
            "origin",
            activity="extraction",
            occurred_at="2024-02-01T00:00:00Z",
            site={"name": "mine", "country": ["AU", "CL", "ID", "CD"][number % 4]},
            outputs=[self.output(batch, "1000", "1200", minerals=minerals)],
        )
        return batch

    @staticmethod
    def output(batch: str, quantity: str, value: str, **extra) -> dict:
        return {
            "batch": batch,
            "material": "material",
            "quantity": quantity,
            "unit": "kg",
            "value_added_usd": value,
            **extra,
        }

    def transform(self, party, inputs: list[tuple[str, str]], output: dict, activity: str, country: str) -> str:
        self.post(
            party,
            "transform",
            activity=activity,
            occurred_at="2024-04-01T00:00:00Z",
            site={"name": "plant", "country": country},
            inputs=[{"batch": b, "prev": self.heads[b], "quantity": q} for b, q in inputs],
            outputs=[output],
        )
        return output["batch"]

    def layer(self, party, sources, count, width, take, activity, countries, **output):
        """`count` transforms, each taking `take` from `width` consecutive sources."""
        made = []
        for number in range(count):
            picked = [sources[(number * width + k) % len(sources)] for k in range(width)]
            batch = f"{party[0].slug}:{activity}-{len(self.heads)}"
            out = self.output(batch, output.get("quantity", "100"), output.get("value", "500"))
            if "component" in output:
                out["component"] = output["component"]
            country = countries[number % len(countries)]
            made.append(self.transform(party, [(b, take) for b in picked], out, activity, country))
        return made

    def build(self) -> str:
        started = time.perf_counter()
        origins = [self.origin(number) for number in range(250)]
        refined = self.layer(self.miner, origins, 250, 12, "80", "processing", ["JP", "ID", "KR"])
        cathode = self.layer(self.miner, refined, 200, 15, "8", "processing", ["KR", "US"])
        for batch in cathode:
            self.post(self.miner, "transfer", batch=batch, prev=self.heads[batch], to=self.maker[0].slug)
        electrodes = self.layer(
            self.maker,
            cathode,
            100,
            32,
            "6",
            "manufacturing",
            ["US", "MX"],
            component="cathode_electrode",
            value="3000",
        )
        modules = self.layer(
            self.maker,
            electrodes,
            10,
            100,
            "10",
            "assembly",
            ["US"],
            component="battery_module",
            value="2000",
            quantity="10",
        )
        (pack,) = self.layer(
            self.maker,
            modules,
            1,
            10,
            "10",
            "assembly",
            ["US"],
            component="battery_pack",
            value="1500",
            quantity="1",
        )
        vin = "".join(secrets.choice(VIN_CHARS) for _ in range(17))
        self.post(
            self.maker,
            "claim",
            batch=pack,
            prev=self.heads[pack],
            quantity="1",
            vin=vin,
            acquired="2024-06-01",
            placed_in_service="2024-06-15",
            final_assembly={"name": "Assembly plant", "country": "US"},
        )
        print(f"built the claim in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        return vin


# --- measuring ----------------------------------------------------------------


def time_verify(vin: str, runs: int) -> tuple[list[float], dict]:
    from audit import engine

    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        verification = engine.verify_claim(vin, requested_by=None)
        timings.append(time.perf_counter() - started)
    return timings, verification.as_verdict()


def time_floor(vin: str, runs: int) -> tuple[list[float], list[float], int, int]:
    """Seconds of each bare fetch and of each run of the bare signature checks."""
    fetches, checks = [], []
    for _ in range(runs):
        started = time.perf_counter()
        envelopes, keys, edges = bare_fetch(vin)
        fetched = time.perf_counter()
        bare_signature_checks(envelopes, keys)
        checks.append(time.perf_counter() - fetched)
        fetches.append(fetched - started)
    return fetches, checks, len(envelopes), edges


def bare_fetch(vin: str):
    """The engine's recursive CTE, then the entries' envelopes and their keys."""
    from django.db import connection

    from provenance.models import Claim, Entry, SigningKey
    from provenance.upstream import UPSTREAM_LINKS_SQL

    claim = Claim.objects.get(vin=vin)
    with connection.cursor() as cursor:
        cursor.execute(UPSTREAM_LINKS_SQL, [claim.batch_id, claim.entry_id])
        links = cursor.fetchall()
    indexes = {row[0] for row in links} | {claim.entry_id}
    envelopes = list(Entry.objects.filter(index__in=indexes).values_list("envelope", flat=True))
    keys = dict(SigningKey.objects.values_list("keyid", "public_key"))
    return envelopes, keys, sum(1 for row in links if row[2] == "consumed")


def bare_signature_checks(envelopes: list[str], keys: dict) -> None:
    import nacl.signing

    from cairn_core import dsse

    verify_keys = {keyid: nacl.signing.VerifyKey(bytes(key)) for keyid, key in keys.items()}
    for text in envelopes:
        envelope = json.loads(text)
        message = dsse.pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))
        for signature in envelope["signatures"]:
            verify_keys[signature["keyid"]].verify(message, base64.b64decode(signature["sig"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--vin", help="Measure a claim built by an earlier run instead.")
    args = parser.parse_args()
    setup(os.environ.get("DATABASE_URL") or DEFAULT_URL)
    from provenance import checkpoints

    vin = args.vin or Builder(secrets.token_hex(3)).build()
    checkpoints.publish_checkpoint()
    analyze()
    time_verify(vin, 1)  # warm caches: the rule snapshot, the ledger key
    # Interleaved, so that each verification and its floor share the
    # machine's load at that moment; the ratio is taken pair by pair.
    verify, fetches, checks = [], [], []
    for _ in range(args.runs):
        timings, verdict = time_verify(vin, 1)
        fetch, check, entries, edges = time_floor(vin, 1)
        verify += timings
        fetches += fetch
        checks += check
    floor = [fetch + check for fetch, check in zip(fetches, checks, strict=True)]
    ratios = [v / f for v, f in zip(verify, floor, strict=True)]
    print(f"claim {vin}: {entries} entries, {edges} edges in its DAG")
    requirements = verdict["requirements"]
    print(
        f"verdict: integrity {verdict['integrity']}, credit {verdict['credit_usd']}, "
        f"{requirements['critical_minerals']['qualifying_pct']}% qualifying, "
        f"{requirements['battery_components']['north_america_pct']}% North American"
    )
    print(f"                 median     best   (of {args.runs} runs)")
    print(f"verify_claim   {ms(statistics.median(verify))}  {ms(min(verify))}   goal < 500 ms")
    print(f"floor          {ms(statistics.median(floor))}  {ms(min(floor))}")
    print(f"  fetch        {ms(statistics.median(fetches))}  {ms(min(fetches))}")
    print(f"  signatures   {ms(statistics.median(checks))}  {ms(min(checks))}")
    print(f"ratio          {statistics.median(ratios):7.2f}   {min(ratios):7.2f}      goal <= 2")


def analyze() -> None:
    """Refresh the planner's statistics, as autovacuum would after a bulk load."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}ms"


if __name__ == "__main__":
    main()
