"""Batch submissions racing on PostgreSQL: 16 at once, on overlapping heads,
through the group commit (the sequencer thread and a sequencer server)."""

import threading

import pytest
from django.db import connection

from cairn_core import dsse
from provenance.append import checks
from provenance.errors import LedgerError
from provenance.models import Batch, Entry
from tests.support import Ledger, assert_log_intact, sign_payload

WRITERS = 16
ORES = 4

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are a PostgreSQL matter"),
]


def race_batches(batches: list[list[bytes]], party) -> list[list]:
    """Post each batch from its own thread at once; each envelope's (status or code, index)."""
    barrier = threading.Barrier(len(batches))
    answers: list = [None] * len(batches)

    def writer(position, bodies):
        try:
            barrier.wait()
            outcomes = checks.append_attestations(bodies, acting_org=party.org)
            answers[position] = [
                (o.code, None) if isinstance(o, LedgerError) else (o.status, o.receipt.index) for o in outcomes
            ]
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=item) for item in enumerate(batches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def overlapping_batches(ledger: Ledger, miner, refiner) -> tuple[list[list[bytes]], list[str]]:
    """Four shared ores; each writer's batch: an origin of its own, a transform
    of two neighbouring ores on the heads it saw, and a transfer of its own new
    batch (prev: the origin's entry_hash, known before posting)."""
    ores = [ledger.origin(miner, quantity="1000") for _ in range(ORES)]
    heads = {ore: ledger.head(ore) for ore in ores}
    batches = []
    for n in range(WRITERS):
        own = f"{miner.slug}:own-{n}"
        origin = sign_payload(ledger.origin_statement(miner, batch=own, site=f"s{n}"), miner)
        pair = [ores[n % ORES], ores[(n + 1) % ORES]]
        transform = sign_payload(
            ledger.statement(
                "transform",
                miner,
                activity="processing",
                site={"name": "p", "country": "AU"},
                inputs=[{"batch": ore, "prev": heads[ore], "quantity": "1"} for ore in pair],
                outputs=[
                    {"batch": f"{miner.slug}:mix-{n}", "material": "m", "quantity": "1", "unit": "kg",
                     "value_added_usd": "1"}
                ],
            ),
            miner,
        )  # fmt: skip
        prev = dsse.parse_envelope(origin).entry_hash
        transfer = sign_payload(ledger.statement("transfer", miner, batch=own, prev=prev, to=refiner.slug), miner)
        batches.append([origin, transform, transfer])
    return batches, ores


def check_outcomes(answers, ores, refiner):
    assert all(answer is not None for answer in answers), "a writer did not finish"
    for origin, _, transfer in answers:
        assert origin[0] == transfer[0] == 201
        assert origin[1] < transfer[1]  # in the batch's order
    transforms = [answer[1] for answer in answers]
    won = [n for n, (code, _) in enumerate(transforms) if code == 201]
    assert {code for code, _ in transforms} <= {201, "stale_head"}
    # each ore's head moved at most once: the winners' ore pairs are disjoint
    pairs = [{n % ORES, (n + 1) % ORES} for n in won]
    assert 1 <= len(won) <= ORES // 2
    assert len(set().union(*pairs)) == 2 * len(won)
    for n, ore in enumerate(ores):
        assert Batch.objects.get(id=ore).consumed == (1 if any(n in pair for pair in pairs) else 0)
    indexes = sorted(index for answer in answers for _, index in answer if index is not None)
    # The race's entries are the log's last ones: contiguous, none reused.
    size = Entry.objects.count()
    assert indexes == list(range(size - 2 * WRITERS - len(won), size))
    assert Entry.objects.exclude(type="ledger").count() == ORES + 2 * WRITERS + len(won)
    assert Batch.objects.filter(id__contains=":own-", custodian_id=refiner.slug).count() == WRITERS
    assert_log_intact()


def test_sixteen_batches_on_overlapping_heads_never_fork(miner, refiner):
    batches, ores = overlapping_batches(Ledger(), miner, refiner)
    check_outcomes(race_batches(batches, miner), ores, refiner)


def test_sixteen_batches_through_a_sequencer_server(served, miner, refiner):
    batches, ores = overlapping_batches(Ledger(), miner, refiner)
    served.clear()
    check_outcomes(race_batches(batches, miner), ores, refiner)
    # every request's three statements travelled and were appended together
    assert sum(served) == 3 * WRITERS and all(size % 3 == 0 for size in served)
