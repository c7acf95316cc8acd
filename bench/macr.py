"""The §45X verdict of a component batch with a large DAG, beside its floor (the service, PostgreSQL).

Builds, through the real write path (`checks.append_attestation`, each
statement signed as a client signs it), the evidence of one cell batch
whose upstream DAG holds 1,000 entries and whose transform has 200 direct
inputs:

    200 suppliers (KR, JP, CN, US), each an origin and a transfer to the maker   (400 entries)
    -> 1 transform of the 200 into cells, each input with its direct material cost
    -> 189 supplier certifications (co-signed by the maker, the custodian): some for
       another year, some with a PFE share; the others missing
    -> transfers of the cells between the maker and its pack plant, then 1 sale
       (up to 1,000 entries in all)

publishes a checkpoint, refreshes the planner's statistics, then measures
in the same run, interleaved pair by pair as bench/verify_claim.py does:

1. `audit.macr.store_verification`: the evidence loaded (recursive CTE),
   every entry checked (audit.claim_integrity), the keys, the logged rule
   data, the core's verdict, the signed report, the stored row and its
   `macr_verdict` ledger entry;
2. `audit.macr.macr_verdict`: the unsigned preview (the same but signing
   and storing);
3. the floor: the bare recursive fetch of the same DAG (the same CTE, the
   entries' envelopes, the keys) plus the bare Ed25519 checks of every
   signature of those entries (bench/verify_claim.py's);
4. their ratios (goal: the stored verdict within 2x of the floor).

    DATABASE_URL=postgres://... python bench/macr.py [--runs 9] [--batch BATCH]

Without DATABASE_URL it uses postgres://postgres@127.0.0.1:5432/cairn_bench_macr,
created if missing (and migrated). Each run adds its own organisations, so
a database can be reused.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import setup_django  # noqa: E402
from bench.verify_claim import _create_if_missing, analyze, bare_signature_checks, ms  # noqa: E402

DEFAULT_NAME = "cairn_bench_macr"
DEFAULT_URL = f"postgres://postgres@127.0.0.1:5432/{DEFAULT_NAME}"
INPUTS = 200
ENTRIES = 1000
YEAR = 2026


def setup(database_url: str) -> None:
    if database_url == DEFAULT_URL:
        _create_if_missing(DEFAULT_NAME)
    setup_django(database_url, settings="config.settings")


# --- building the evidence -------------------------------------------------------


class Builder:
    """Signs statements as a client would (co-signed where a custodian must) and appends them."""

    def __init__(self, run: str) -> None:
        from django.utils import timezone

        self.run = run
        self.issued_at = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        self.maker = self.party(f"bench-{run}-cells", ["manufacturer"], "US")
        self.packs = self.party(f"bench-{run}-packs", ["manufacturer"], "US")
        self.heads: dict[str, str] = {}
        self.entries = 0

    def party(self, slug: str, roles: list[str], country: str):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from cairn_core import dsse
        from provenance.keys import register_key
        from provenance.organizations import create_organization

        org, _ = create_organization(slug=slug, name=slug, country=country, roles=roles)
        private_key = Ed25519PrivateKey.generate()
        key, _ = register_key(organization=org, public_key_b64=dsse.b64encode(dsse.raw_public_key(private_key)))
        return org, key.keyid, private_key

    def post(self, party, kind: str, *cosigners, **fields) -> None:
        from cairn_core import dsse
        from cairn_core.payload import PAYLOAD_TYPE, SCHEMA
        from provenance.append import checks

        org = party[0]
        payload = {"schema": SCHEMA, "type": kind, "issuer": org.slug, "issued_at": self.issued_at, **fields}
        signers = [(keyid, private_key) for _org, keyid, private_key in (party, *cosigners)]
        envelope = dsse.sign(PAYLOAD_TYPE, json.dumps(payload).encode(), signers)
        checks.append_attestation(json.dumps(envelope.to_stored()).encode(), acting_org=org)
        touched = [item["batch"] for item in fields.get("outputs", []) + fields.get("inputs", [])]
        for batch in touched + ([fields["batch"]] if "batch" in fields else []):
            self.heads[batch] = envelope.entry_hash
        self.entries += 1

    def supplier(self, number: int):
        country = ("KR", "JP", "CN", "US")[number % 4]
        supplier = self.party(f"bench-{self.run}-s{number:03d}", ["supplier"], country)
        batch = f"{supplier[0].slug}:lot-1"
        self.post(
            supplier,
            "origin",
            activity="extraction",
            occurred_at="2026-02-01T00:00:00Z",
            site={"name": "plant", "country": country},
            outputs=[
                {
                    "batch": batch,
                    "material": "m",
                    "quantity": "100",
                    "unit": "kg",
                    "value_added_usd": "10",
                    "minerals": {"lithium": "1"},
                }
            ],
        )
        self.post(supplier, "transfer", batch=batch, prev=self.heads[batch], to=self.maker[0].slug)
        return supplier, batch

    def certification(self, number: int, supplier, batch: str) -> None:
        from cairn_core.payload import PERJURY_STATEMENT

        self.post(
            supplier,
            "supplier_certification",
            self.maker,
            batch=batch,
            prev=self.heads[batch],
            taxpayer=self.maker[0].slug,
            taxable_year=YEAR if number % 11 else YEAR - 1,
            status="certified",
            supplier_tin={"kind": "foreign", "value": f"KR-{number}"},
            not_produced_by_pfe=True,
            no_knowledge_of_prior_pfe=True,
            direct_material_cost_usd="1000",
            non_pfe_direct_material_cost_usd="900" if number % 5 == 0 else "1000",
            penalties_of_perjury=PERJURY_STATEMENT,
        )

    def build(self) -> str:
        started = time.perf_counter()
        suppliers = [self.supplier(number) for number in range(INPUTS)]
        cells = f"{self.maker[0].slug}:cells-1"
        self.post(
            self.maker,
            "transform",
            activity="manufacturing",
            occurred_at="2026-06-01T00:00:00Z",
            site={"name": "cell plant", "country": "US"},
            inputs=[
                {"batch": batch, "prev": self.heads[batch], "quantity": "50", "direct_material_cost_usd": f"{n + 1}.25"}
                for n, (_supplier, batch) in enumerate(suppliers)
            ],
            outputs=[
                {
                    "batch": cells,
                    "material": "cells",
                    "quantity": "1000",
                    "unit": "unit",
                    "value_added_usd": "100",
                    "component": "battery_cell",
                }
            ],
        )
        for number, (supplier, batch) in enumerate(suppliers):
            if number % 19:  # every 19th certification is missing
                self.certification(number, supplier, batch)
        holders = (self.maker, self.packs)
        for n in range(ENTRIES - self.entries - 1):
            giver, taker = holders[n % 2], holders[(n + 1) % 2]
            self.post(giver, "transfer", batch=cells, prev=self.heads[cells], to=taker[0].slug)
        self.post(
            self.custodian(cells),
            "sale",
            batch=cells,
            prev=self.heads[cells],
            quantity="1000",
            sold_on="2026-11-30",
            buyer={"name": "buyer", "country": "US"},
        )
        print(f"built {self.entries} entries in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        return cells

    def custodian(self, batch: str):
        from provenance.models import Batch

        slug = Batch.objects.get(id=batch).custodian_id
        return self.maker if slug == self.maker[0].slug else self.packs


# --- measuring ------------------------------------------------------------------------


def time_store(batch_id: str) -> tuple[float, dict]:
    from audit import macr
    from provenance.models import Batch

    batch = Batch.objects.get(id=batch_id)
    started = time.perf_counter()
    verification = macr.store_verification(batch, YEAR, requested_by=None)
    return time.perf_counter() - started, verification.as_verdict()


def time_preview(batch_id: str) -> float:
    from audit import macr
    from provenance.models import Batch

    batch = Batch.objects.get(id=batch_id)
    started = time.perf_counter()
    macr.macr_verdict(batch, YEAR)
    return time.perf_counter() - started


def time_floor(batch_id: str) -> tuple[float, float, int]:
    """Seconds of the bare fetch and of the bare signature checks, and the entries fetched."""
    started = time.perf_counter()
    envelopes, keys = bare_fetch(batch_id)
    fetched = time.perf_counter()
    bare_signature_checks(envelopes, keys)
    return fetched - started, time.perf_counter() - fetched, len(envelopes)


def bare_fetch(batch_id: str) -> tuple[list[str], dict]:
    """The verdict's recursive CTE, then the entries' envelopes and their keys."""
    from django.db import connection

    from provenance.models import Entry, SigningKey
    from provenance.upstream import LAST_INDEX, UPSTREAM_LINKS_SQL

    with connection.cursor() as cursor:
        cursor.execute(UPSTREAM_LINKS_SQL, [batch_id, LAST_INDEX])
        indexes = {row[0] for row in cursor.fetchall()}
    envelopes = list(Entry.objects.filter(index__in=indexes).values_list("envelope", flat=True))
    keys = dict(SigningKey.objects.values_list("keyid", "public_key"))
    return envelopes, keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--batch", help="Measure a cell batch built by an earlier run instead.")
    args = parser.parse_args()
    setup(os.environ.get("DATABASE_URL") or DEFAULT_URL)
    from provenance import checkpoints

    batch = args.batch or Builder(secrets.token_hex(3)).build()
    checkpoints.publish_checkpoint()
    analyze()
    time_store(batch)  # warm caches: the ledger key, the rule data, the checkpoint with its quorum
    stored, previews, fetches, checks = [], [], [], []
    for _ in range(args.runs):
        elapsed, verdict = time_store(batch)
        stored.append(elapsed)
        previews.append(time_preview(batch))
        fetch, check, entries = time_floor(batch)
        fetches.append(fetch)
        checks.append(check)
    floor = [fetch + check for fetch, check in zip(fetches, checks, strict=True)]
    print(f"batch {batch}: {entries} entries in its DAG, {len(verdict['inputs'])} direct inputs")
    print(
        f"verdict: {verdict['outcome']}, integrity {verdict['integrity']}, MACR {verdict['macr']['percent_shown']}% "
        f"against {verdict['threshold']['percent']}%"
    )
    print(f"                      median     best   (of {args.runs} runs)")
    print(f"store_verification  {ms(statistics.median(stored))}  {ms(min(stored))}")
    print(f"macr_verdict        {ms(statistics.median(previews))}  {ms(min(previews))}   (the unsigned preview)")
    print(f"floor               {ms(statistics.median(floor))}  {ms(min(floor))}")
    print(f"  fetch             {ms(statistics.median(fetches))}  {ms(min(fetches))}")
    print(f"  signatures        {ms(statistics.median(checks))}  {ms(min(checks))}")
    for name, timings in (("store", stored), ("preview", previews)):
        ratios = [value / base for value, base in zip(timings, floor, strict=True)]
        print(f"ratio {name:<13} {statistics.median(ratios):7.2f}   {min(ratios):7.2f}      goal <= 2")


if __name__ == "__main__":
    main()
