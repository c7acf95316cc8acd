"""Fixtures for the transparency log and integrity tests."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from provenance import tlog
from provenance.models import Entry, LogState, Organization
from tests.core.test_merkle import LEAF_HASHES
from tests.support import mine_to_claim


@pytest.fixture(autouse=True)
def ledger_key_dir(settings, tmp_path_factory):
    """A development ledger key outside the repository, one per test session."""
    settings.CAIRN_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "ledger-key"
    settings.LEDGER_SIGNING_KEY = ""
    settings.LEDGER_ORIGIN = "cairn.test/ledger"
    return settings.CAIRN_DEV_KEY_DIR


def append_bare_leaves(count: int) -> None:
    """Entries whose leaves are the reference LEAF_HASHES, appended through
    tlog.append_leaf as the write path does (no envelopes: proof tests only)."""
    org, _ = Organization.objects.get_or_create(
        slug="bare-log", defaults={"name": "Bare", "country": "US", "roles": ["supplier"]}
    )
    state = LogState.load()
    moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for _ in range(count):
        index = state.size
        Entry.objects.create(
            index=index,
            entry_hash=f"{index:064x}",
            envelope="{}",
            integrated_time=0,
            leaf_hash=LEAF_HASHES[index].hex(),
            type="origin",
            issuer=org,
            issued_at=moment,
            occurred_at=moment,
            statement={},
        )
        tlog.append_leaf(state, LEAF_HASHES[index])
    state.save()


@pytest.fixture
def chain(ledger, miner, refiner, maker):
    """Seven real entries through the ingest service: mine to claim."""
    batches = mine_to_claim(ledger, miner, refiner, maker, "1HGCM82633A004352")
    return batches


def tamper(sql: str, params: list | None = None) -> None:
    """Change the database behind the application's back.

    On PostgreSQL the append-only triggers (and foreign keys) are bypassed
    for this statement with session_replication_role = replica, as an
    attacker with superuser access could.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params or [])
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")
