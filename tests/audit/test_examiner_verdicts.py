"""Verdicts through the server, under the migrated rule data (agreements 0004)."""

from __future__ import annotations

import json

import pytest

from audit.models import Verification
from cairn_core import dsse
from tests.support import cells_and_pack, claim, simple_chain

VIN = "5YJ3E1EA0PF000013"


@pytest.mark.parametrize(("mine", "agreement"), [("AU", "us-au-fta"), ("JP", "us-japan-cma")])
def test_australian_and_japanese_ore_mined_2023_04_01_both_earn_7500(
    ledger, miner, refiner, maker, verify, mine, agreement
):
    """IRC §30D(e)(1)(A)(i), "a free trade agreement in effect": the
    US-Australia FTA since 2005-01-01 (USTR), Japan's agreement since
    2023-03-28. Refined in the US. Formerly the AU ore gave 0% and $3,750."""
    ore = ledger.origin(miner, minerals={"lithium": "60"}, country=mine, occurred_at="2023-04-01T00:00:00Z")
    ledger.transfer(miner, ore, refiner)
    (hydroxide,) = ledger.transform(
        refiner, [(ore, "1000")], [{"quantity": "100", "value_added_usd": "900"}], occurred_at="2023-04-20T00:00:00Z"
    )
    ledger.transfer(refiner, hydroxide, maker)
    pack = cells_and_pack(ledger, maker, hydroxide, "100")
    claim(ledger, maker, pack, VIN, acquired="2023-05-01", placed_in_service="2023-06-01")
    verification = verify(VIN)
    verdict = verification.as_verdict()
    assert verdict["credit_usd"] == "7500"
    assert verdict["requirements"]["critical_minerals"] == {
        "met": True,
        "qualifying_pct": "100.00",
        "required_pct": "40",
    }
    assert verdict["agreements"] == [agreement]
    assert verdict["applied"]["rules_version"] == verification.rules_version


def test_the_signed_report_carries_scope_and_applied(ledger, miner, refiner, maker, verify):
    claim(ledger, maker, simple_chain(ledger, miner, refiner, maker), VIN)
    verification = verify(VIN)
    payload = json.loads(dsse.envelope_from_dict(verification.report).payload)
    assert payload["scope"] == verification.verdict["scope"]
    assert payload["applied"]["requirements"]["final_assembly"]["citation"] == "IRC §30D(d)(1)(G)"
    assert payload["applied"]["schedule_row"]["critical_minerals_pct"] == "50"


def test_a_verdict_stored_before_the_additions_reads_as_before(ledger, miner, refiner, maker, verify):
    """Verdicts signed before v1.1 have no scope or applied: the API answers
    them with contract §5's keys only."""
    claim(ledger, maker, simple_chain(ledger, miner, refiner, maker), VIN)
    verification = verify(VIN)
    v12 = ("verified_at", "requested_by")
    old = {key: value for key, value in verification.verdict.items() if key not in ("scope", "applied", *v12)}
    stored_before = Verification(pk=verification.pk, verdict=old, report=verification.report)
    assert list(stored_before.as_verdict()) == [
        "id", "vin", "claim_index", "integrity", "credit_usd", "requirements",
        "agreements", "problems", "checkpoint", "report",
    ]  # fmt: skip
