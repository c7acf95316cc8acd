"""Ledger rows written directly, for the tests of linking and what-if.

`LedgerRows` inserts Entry, Batch, BatchLink and Claim rows as the write path
would leave them, without signatures, so that linking and impact can be
tested on exact shapes (tests/provenance/linking/test_ingest_links.py goes
through the real write path instead). The conftests of the folders that use
them import the fixtures `rows` and `fresh_rule_cache` from here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from provenance.models import Batch, BatchLink, Claim, Entry, Organization


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=dt.UTC)


class LedgerRows:
    def __init__(self):
        self.index = 0
        self.orgs: dict[str, Organization] = {}

    def org(self, slug: str, country: str = "JP") -> Organization:
        if slug not in self.orgs:
            self.orgs[slug] = Organization.objects.create(
                slug=slug, name=slug, country=country, roles=["supplier", "manufacturer"]
            )
        return self.orgs[slug]

    def entry(self, kind: str, issuer: str, day: str, statement: dict) -> Entry:
        entry = Entry.objects.create(
            index=self.index,
            entry_hash=hashlib.sha256(f"entry {self.index}".encode()).hexdigest(),
            envelope="{}",
            integrated_time=0,
            leaf_hash="0" * 64,
            type=kind,
            issuer=self.org(issuer),
            issued_at=at(day),
            occurred_at=at(day),
            statement=statement,
        )
        self.index += 1
        return entry

    def origin(self, batch: str, *, country: str, day: str, minerals: dict[str, str]) -> Entry:
        issuer = batch.split(":")[0]
        outputs = [{"batch": batch, "minerals": minerals}]
        entry = self.entry("origin", issuer, day, {"site": {"country": country}, "outputs": outputs})
        self.batch(batch, entry, country, sorted(minerals))
        return entry

    def transform(self, inputs: list[str], output: str, *, country: str, day: str) -> Entry:
        issuer = output.split(":")[0]
        statement = {"site": {"country": country}, "inputs": [{"batch": b} for b in inputs]}
        entry = self.entry("transform", issuer, day, statement)
        carried = sorted({name for b in Batch.objects.filter(id__in=inputs) for name in b.carries})
        for batch_id in inputs:
            BatchLink.objects.create(
                entry=entry,
                batch_id=batch_id,
                role="consumed",
                quantity=Decimal(1),
                custodian_after=self.org(issuer),
            )
        self.batch(output, entry, country, carried)
        return entry

    def batch(self, batch_id: str, entry: Entry, country: str, carries: list[str]) -> Batch:
        owner = self.org(batch_id.split(":")[0])
        return Batch.objects.create(
            id=batch_id,
            owner=owner,
            material="material",
            unit="kg",
            quantity=Decimal(1000),
            custodian=owner,
            head=entry.entry_hash,
            created_by=entry,
            site_country=country,
            carries=carries,
            value_added_usd=Decimal(100),
        )

    def claim(self, batch: str, vin: str, *, day: str, acquired: str, placed_in_service: str) -> Claim:
        maker = batch.split(":")[0]
        entry = self.entry("claim", maker, day, {"batch": batch, "vin": vin})
        BatchLink.objects.create(
            entry=entry,
            batch_id=batch,
            role="claimed",
            quantity=Decimal(1),
            custodian_after=self.org(maker),
        )
        return Claim.objects.create(
            vin=vin,
            entry=entry,
            batch_id=batch,
            manufacturer=self.org(maker),
            acquired=dt.date.fromisoformat(acquired),
            placed_in_service=dt.date.fromisoformat(placed_in_service),
            final_assembly_country="US",
        )


@pytest.fixture
def rows(db):
    return LedgerRows()


@pytest.fixture(autouse=True)
def fresh_rule_cache():
    """The per-process RuleSet cache must not leak between tests (DB rolls back)."""
    from agreements import snapshot

    snapshot._cached = None
    yield
    snapshot._cached = None
