"""Racing writers on PostgreSQL: no fork, no lost entry, no reused index.

Each writer is a thread with its own database connection, released together
by a barrier so that their transactions overlap.
"""

import threading

import pytest
from django.db import connection

from provenance import tlog
from provenance.append import checks
from provenance.models import Batch
from tests.support import Ledger, assert_log_intact, race, sign_payload

WRITERS = 16

pytestmark = [
    # serialized_rollback restores the reference data (critical minerals,
    # agreements) that the flush after each transactional test removes.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are a PostgreSQL matter"),
]


def test_writers_on_the_same_head_never_fork_the_chain(miner):
    ledger = Ledger()
    ore = ledger.origin(miner, quantity="1000")
    head = ledger.head(ore)
    bodies = [
        sign_payload(
            ledger.statement(
                "transform",
                miner,
                activity="processing",
                site={"name": "p", "country": "AU"},
                inputs=[{"batch": ore, "prev": head, "quantity": "10"}],
                outputs=[
                    {
                        "batch": f"{miner.slug}:out-{n}",
                        "material": "m",
                        "quantity": "1",
                        "unit": "kg",
                        "value_added_usd": "1",
                    }
                ],
            ),
            miner,
        )
        for n in range(WRITERS)
    ]
    outcomes = race(bodies, lambda _: miner)
    assert [code for code, _ in outcomes].count(201) == 1
    assert sum(1 for code, _ in outcomes if code == "stale_head") == WRITERS - 1
    assert Batch.objects.get(id=ore).consumed == 10
    assert_log_intact()


def test_writers_on_different_heads_all_land_with_contiguous_indexes(miner, refiner):
    ledger = Ledger()
    size = tlog.current_size()  # the personas' ledger entries (contract §12) come first
    ores = [ledger.origin(miner, quantity="5") for _ in range(WRITERS)]
    bodies = [
        sign_payload(ledger.statement("transfer", miner, batch=ore, prev=ledger.head(ore), to=refiner.slug), miner)
        for ore in ores
    ]
    outcomes = race(bodies, lambda _: miner)
    assert [code for code, _ in outcomes] == [201] * WRITERS
    assert sorted(index for _, index in outcomes) == list(range(size + WRITERS, size + 2 * WRITERS))
    assert set(Batch.objects.values_list("custodian_id", flat=True)) == {refiner.slug}
    assert_log_intact()


def origin_body(ledger, party, batch: str, site: str = "s") -> bytes:
    """A signed origin of five kg of nickel-bearing ore as `party`:`batch`."""
    payload = ledger.origin_statement(
        party,
        batch=f"{party.slug}:{batch}",
        site=site,
        material="ore",
        quantity="5",
        minerals={"nickel": "1"},
        value="0",
    )
    return sign_payload(payload, party)


def test_the_same_envelope_posted_at_once_is_logged_once(miner):
    body = origin_body(Ledger(), miner, "same")
    size = tlog.current_size()
    outcomes = race([body] * WRITERS, lambda _: miner)
    assert sorted(str(code) for code, _ in outcomes) == ["200"] * (WRITERS - 1) + ["201"]
    assert {index for _, index in outcomes} == {size}
    assert_log_intact()


def test_new_batches_with_one_id_race_to_one_winner(miner):
    ledger = Ledger()
    bodies = [origin_body(ledger, miner, "contested", site=f"s{n}") for n in range(WRITERS)]
    outcomes = race(bodies, lambda _: miner)
    codes = sorted(str(code) for code, _ in outcomes)
    assert codes == ["201"] + ["batch_exists"] * (WRITERS - 1)
    assert_log_intact()


def test_a_batch_id_taken_outside_the_write_path_meanwhile_is_checked_again(miner, monkeypatch):
    """A writer that bypasses the write path (no tail lock) takes a batch id
    after the batch's checks and before its insert: the unique constraint
    stops the insert, the batch is checked again, and the statement gets
    batch_exists while the others of its batch land."""
    ledger = Ledger()
    ore = ledger.origin(miner)
    size = tlog.current_size()

    def origin_of(batch: str):
        return checks.prepare(origin_body(ledger, miner, batch, site=batch), acting_org=miner.org)

    items = [origin_of("fine"), origin_of("taken"), origin_of("also-fine")]
    real_write, attempts = checks.Book.write, []

    def write_after_a_rival(book, ruleset):
        attempts.append(len(book.entries))
        if len(attempts) == 1:
            rival = threading.Thread(target=take_batch_id, args=(f"{miner.slug}:taken", ore))
            rival.start()
            rival.join()
        real_write(book, ruleset)

    monkeypatch.setattr(checks.Book, "write", write_after_a_rival)
    outcomes = checks.append_batch(items)
    assert attempts == [3, 2]
    assert [o.status if isinstance(o, checks.AppendResult) else o.code for o in outcomes] == [
        201,
        "batch_exists",
        201,
    ]
    assert [o.receipt.index for o in outcomes if isinstance(o, checks.AppendResult)] == [size, size + 1]
    assert Batch.objects.get(id=f"{miner.slug}:taken").head == "00" * 32  # the rival's row stands
    Batch.objects.filter(id=f"{miner.slug}:taken").delete()  # it has no chain to check
    assert_log_intact()


def take_batch_id(batch_id: str, like: str) -> None:
    try:
        template = Batch.objects.get(id=like)
        template.id, template.head = batch_id, "00" * 32
        template.save(force_insert=True)
    finally:
        connection.close()
