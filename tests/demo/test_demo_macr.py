"""The demo's §45X story: Lordstown Cell Works' battery-cell batch passes 2026's 60%
and the same mix would fail 2027's 65% (demo.data, MATERIAL_ASSISTANCE's comment)."""

from __future__ import annotations

import pytest

from audit import macr
from demo import data as demo
from provenance import checkpoints
from provenance.models import Batch, Entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def cells():
    demo.load()
    checkpoints.publish_checkpoint()
    return Batch.objects.get(id=demo.MACR_CELLS)


def test_the_cell_batch_passes_at_2026s_sixty_percent(cells):
    """$100,000 of direct materials, $38,900 attributed to PFEs: $24,000 of Ningbo's
    electrolyte (designated from 2026-09-01, so a PFE on 2026-12-31), $14,000 of
    Georgia's separator (no certification) and $900 of Gwangju's cathode material
    (certified 196,000 of 200,000 not from a PFE: 45,000 x 2% = 900).
    MACR = 61,100 / 100,000 = 61.1%, at least 60%."""
    found = macr.macr_verdict(cells, demo.MACR_YEAR)
    assert (found["outcome"], found["integrity"]) == ("pass", "intact"), found["problems"]
    assert found["totals"] == {
        "direct_material_cost_usd": "100000",
        "pfe_attributed_usd": "38900",
        "non_pfe_usd": "61100",
    }
    assert found["macr"] == {"ratio": "0.611000000000", "percent_shown": "61.10"}
    assert found["threshold"]["percent"] == "60" and found["threshold"]["confirmed"] is False
    assert found["year_sold"]["source"] == "sale" and found["year_sold"]["sale"]["sold_on"] == "2026-11-20"
    assert found["existing_contract"]["applies"] is False
    by_supplier = {item["supplier"]: item for item in found["inputs"]}
    assert {supplier: item["reasons"] for supplier, item in by_supplier.items()} == {
        "gwangju-cathode": ["certified_pfe_share"],
        "osaka-anode": [],
        "ningbo-electrolyte": ["designated_pfe"],
        "georgia-separator": ["missing_certification"],
    }
    assert {supplier: item["pfe_attributed_usd"] for supplier, item in by_supplier.items()} == {
        "gwangju-cathode": "900",
        "osaka-anode": "0",
        "ningbo-electrolyte": "24000",
        "georgia-separator": "14000",
    }
    # The designation came after the electrolyte was made: judged on the status date, not the activity.
    [designation] = by_supplier["ningbo-electrolyte"]["designations"]
    assert designation["from"] == "2026-09-01" and found["status_date"]["date"] == "2026-12-31"
    made = Entry.objects.get(index=by_supplier["ningbo-electrolyte"]["creating_index"])
    assert made.occurred_at.date().isoformat() < designation["from"]


def test_the_same_mix_sold_in_2027_fails_at_sixty_five_percent(cells):
    """61.1% (61,100 / 100,000) is below 2027's 65%."""
    found = macr.macr_verdict(cells, demo.MACR_YEAR, sold_year=2027)
    assert (found["outcome"], found["macr"]["percent_shown"], found["threshold"]["percent"]) == ("fail", "61.10", "65")
    assert found["macr"]["ratio"] == "0.611000000000"
    assert found["year_sold"] == {"year": 2027, "source": "what_if", "sale": None}


def test_the_designation_is_a_logged_rule_change(cells):
    entries = Entry.objects.filter(type="ledger", statement__type="rules", statement__regime="45x")
    changed = [change for entry in entries for change in entry.statement["changes"]]
    assert any(change["after"] and change["after"].get("entity") == "ningbo-electrolyte" for change in changed)
