"""Through the ledger's real write path: entries are linked at ingest."""

from __future__ import annotations

import pytest

from provenance.linking import links_for_entries
from provenance.models import Batch, Entry

pytestmark = pytest.mark.django_db


def test_origin_and_transform_entries_are_linked_at_ingest(ledger, refiner, miner):
    ore = ledger.origin(miner, country="AU", minerals={"lithium": "60"}, occurred_at="2024-05-01T10:00:00Z")
    japanese = ledger.origin(
        refiner,
        country="JP",
        minerals={"nickel": "20", "aluminum": "5"},
        occurred_at="2024-05-02T10:00:00Z",
    )
    ledger.transfer(miner, ore, refiner)
    [pcam] = ledger.transform(
        refiner,
        [(ore, "1000"), (japanese, "1000")],
        [{"quantity": "500"}],
        country="JP",
        occurred_at="2024-06-01T10:00:00Z",
    )
    indexes = [Batch.objects.get(id=batch).created_by_id for batch in (ore, japanese, pcam)]
    assert links_for_entries(indexes) == {
        indexes[0]: [{"agreement": "us-au-fta", "mineral": "lithium", "country": "AU"}],
        indexes[1]: [{"agreement": "us-japan-cma", "mineral": "nickel", "country": "JP"}],
        indexes[2]: [
            {"agreement": "us-japan-cma", "mineral": "lithium", "country": "JP"},
            {"agreement": "us-japan-cma", "mineral": "nickel", "country": "JP"},
        ],
    }
    assert Entry.objects.filter(agreement_links__isnull=False).distinct().count() == 3
