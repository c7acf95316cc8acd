"""Ledger rows are written once: Django guards everywhere, a trigger on PostgreSQL."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from provenance.models import BatchLink, Claim, Entry, EntrySignature, ImmutableRecord, MerkleNode
from tests.support import mine_to_claim

LEDGER_MODELS = [Entry, EntrySignature, BatchLink, Claim]


@pytest.fixture
def chain(ledger, miner, refiner, maker):
    return mine_to_claim(ledger, miner, refiner, maker, "1HGCM82633A004352")


@pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda m: m.__name__)
def test_model_instances_cannot_be_saved_again_or_deleted(chain, model):
    row = model.objects.first()
    with pytest.raises(ImmutableRecord):
        row.save()
    with pytest.raises(ImmutableRecord):
        row.delete()


@pytest.mark.parametrize("model", [*LEDGER_MODELS, MerkleNode], ids=lambda m: m.__name__)
def test_querysets_cannot_update_or_delete(chain, model):
    with pytest.raises(ImmutableRecord):
        model.objects.all().delete()
    with pytest.raises(ImmutableRecord):
        model.objects.filter(pk__in=[]).update(pk=1)
    assert model.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE provenance_entry SET envelope = 'x'",
        "DELETE FROM provenance_entry WHERE index = 0",
        "UPDATE provenance_batchlink SET prev = ''",
        "DELETE FROM provenance_entrysignature",
        "UPDATE provenance_claim SET vin = 'X'",
        "DELETE FROM provenance_merklenode",
    ],
)
def test_postgresql_rejects_update_and_delete_on_ledger_tables(chain, sql):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert Entry.objects.exclude(type="ledger").count() == 7
