"""The periodic sweep: any change to a stored row of the log is found
without the nightly full check, and rows that still match cost no signature
check. Ranges of 4 entries here (1 << 2), so that a short chain spans several."""

from __future__ import annotations

import pytest
from django.db import connection

from audit import checks, integrity, sweep
from audit.models import IntegrityIncident, RangeSeal
from provenance import checkpoints
from provenance.models import Batch, Checkpoint, Claim, Entry, MerkleNode
from tests.support import claim, raise_value, simple_chain, tamper_envelope

VIN = "5YJ3E1EA0PF000002"


@pytest.fixture
def small_ranges(monkeypatch, settings):
    monkeypatch.setattr(sweep, "LEVEL", 2)
    monkeypatch.setattr(sweep, "WIDTH", 4)
    settings.CAIRN_SWEEP_ROLLING_ENTRIES = 1000  # every range, so that the first sweep seals them all


@pytest.fixture
def sealed(small_ranges, ledger, miner, refiner, maker, settings):
    """A chain to a claim under a checkpoint, every whole range sealed by a clean sweep."""
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    checkpoints.publish_checkpoint()
    first = sweep.sweep()
    assert first.problems == []
    size = Checkpoint.objects.order_by("-tree_size").first().tree_size
    assert first.sealed == list(range(0, size // 4 * 4, 4)) and len(first.sealed) >= 2
    settings.CAIRN_SWEEP_ROLLING_ENTRIES = 0  # from here on, only what differs is checked in full
    return size


def sql(statement: str, params: list) -> None:
    """A change behind the ledger's back (past PostgreSQL's append-only triggers)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(statement, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")


def found(done: sweep.Sweep) -> set[tuple[str, int]]:
    return {(problem.code, problem.index) for problem in done.problems}


def test_an_unchanged_log_is_swept_without_a_full_check(sealed, monkeypatch):
    calls = []
    real = integrity.check_range
    monkeypatch.setattr(integrity, "check_range", lambda start, end: calls.append((start, end)) or real(start, end))
    done = sweep.sweep()
    assert done.problems == [] and done.rechecked == [] and done.rolled == []
    # Only the tail after the last whole range is checked in full.
    assert calls == [(sealed // 4 * 4, Entry.objects.count())]


def test_a_changed_envelope_byte_is_found_against_the_signed_checkpoint(sealed):
    origin = Entry.objects.filter(type="origin").get().index
    tamper_envelope(origin, raise_value)
    done = sweep.sweep()
    assert origin // 4 * 4 in done.rechecked
    assert {("leaf_hash", origin), ("bad_signature", origin), ("inclusion", origin)} <= found(done)


def test_a_changed_envelope_with_its_leaf_hash_is_still_found(sealed):
    origin = Entry.objects.filter(type="origin").get().index
    tamper_envelope(origin, raise_value)
    recomputed = Entry.objects.get(index=origin).leaf_input.encode()
    leaf = integrity.merkle.leaf_hash(recomputed).hex()
    sql('UPDATE provenance_entry SET leaf_hash = %s WHERE "index" = %s', [leaf, origin])
    done = sweep.sweep()
    assert ("inclusion", origin) in found(done) and ("bad_signature", origin) in found(done)


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE provenance_batch SET quantity = quantity + 1 WHERE created_by_id = %s",
        "DELETE FROM provenance_entrysignature WHERE entry_id = %s",
        "UPDATE provenance_batchlink SET quantity = 1 WHERE entry_id = %s",
        "DELETE FROM provenance_entryagreementlink WHERE entry_id = %s",
    ],
    ids=["batch fixed column", "signature record", "batch link", "agreement link"],
)
def test_a_changed_derived_row_is_found_through_its_seal(sealed, change):
    transform = Entry.objects.filter(type="transform").order_by("index").first().index
    assert transform < sealed // 4 * 4  # in a sealed range
    sql(change, [transform])
    done = sweep.sweep()
    assert transform // 4 * 4 in done.rechecked
    assert transform in {problem.index for problem in done.problems}


def test_a_changed_moving_column_is_found(sealed):
    ore = Batch.objects.filter(created_by__type="origin").get()
    sql("UPDATE provenance_batch SET consumed = 999 WHERE id = %s", [ore.id])
    done = sweep.sweep()
    assert any(
        p.code == "batch_state" and f"batch {ore.id}: the stored row says consumed 999;" in p.message
        for p in done.problems
    )


def test_a_changed_merkle_node_and_checkpoint_are_found(sealed):
    node = MerkleNode.objects.filter(id=MerkleNode.node_id(1, 0)).get()
    sql("UPDATE provenance_merklenode SET hash = %s WHERE id = %s", ["00" * 32, node.id])
    done = sweep.sweep()
    assert ("tree", 0) in found(done)


def test_a_changed_claim_row_is_found(sealed):
    row = Claim.objects.get(vin=VIN)
    sql("UPDATE provenance_claim SET acquired = '2020-01-01' WHERE vin = %s", [VIN])
    done = sweep.sweep()
    assert ("claim_state", row.entry_id) in found(done)


def test_the_sweep_run_records_incidents_once(sealed):
    origin = Entry.objects.filter(type="origin").get().index
    tamper_envelope(origin, raise_value)
    first = checks.run_sweep()
    assert first and IntegrityIncident.objects.filter(index=origin).exists()
    count = IntegrityIncident.objects.count()
    checks.run_sweep()
    assert IntegrityIncident.objects.count() == count


def test_a_range_that_fails_is_not_sealed_again(sealed):
    origin = Entry.objects.filter(type="origin").get().index
    before = RangeSeal.objects.get(start=origin // 4 * 4).digest
    tamper_envelope(origin, raise_value)
    sweep.sweep()
    assert RangeSeal.objects.get(start=origin // 4 * 4).digest == before


def test_a_batch_moved_by_a_later_entry_is_compared_once_and_not_rechecked(sealed, ledger, miner, refiner, settings):
    """An old batch moved by a new entry changes its range's moving columns, not its seal:
    they are compared with the links (in agreement) and sealed again, with no full check."""
    ore = ledger.origin(miner, minerals={"lithium": "60"})
    for _ in range(3):
        ledger.origin(miner, minerals={"lithium": "60"})
    checkpoints.publish_checkpoint()
    settings.CAIRN_SWEEP_ROLLING_ENTRIES = 1000
    assert sweep.sweep().problems == []  # the new ranges sealed
    settings.CAIRN_SWEEP_ROLLING_ENTRIES = 0
    start = Batch.objects.get(id=ore).created_by_id // 4 * 4
    before = RangeSeal.objects.get(start=start)
    ledger.transfer(miner, ore, refiner)
    checkpoints.publish_checkpoint()
    done = sweep.sweep()
    assert done.problems == [] and done.rechecked == []
    after = RangeSeal.objects.get(start=start)
    assert after.digest == before.digest and after.moving != before.moving
    sql("UPDATE provenance_batch SET custodian_id = %s WHERE id = %s", [miner.slug, ore])
    done = sweep.sweep()
    assert any(p.code == "batch_state" and f"batch {ore}:" in p.message for p in done.problems)
    assert RangeSeal.objects.get(start=start).moving == after.moving  # not sealed as it stands
