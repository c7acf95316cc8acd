"""The verdict monitor (contract §12): every verdict in the log by VIN, and
intact verdicts that disagree with no rules entry logged between them."""

from __future__ import annotations

import datetime as dt

import pytest

from agreements.models import FeocRule
from audit import checks, tasks, verdict_monitor
from audit.engine import verdict_fields, verify_claim
from audit.models import IntegrityIncident
from cairn_core.ledger_entries import RulesRecord, VerdictRecord
from cairn_core.regimes.s30d import verdict_monitor as pure
from provenance import ledger_entries
from provenance.rule_changes import rule_change
from tests.support import claim, simple_chain, tamper

pytestmark = pytest.mark.django_db
VIN = "5YJ3E1EA0PF000901"
AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def record(index: int, credit: str, integrity: str = "intact", vin: str = VIN) -> VerdictRecord:
    return VerdictRecord(index, vin, 3, credit, integrity, "0" * 64, {"organization": "a", "user": None}, AT, index)


def test_consecutive_intact_verdicts_that_differ_need_a_rules_entry_between_them():
    verdicts = [record(10, "7500"), record(20, "3750"), record(30, "3750"), record(40, "0", "broken")]
    (found,) = pure.disagreements(verdicts, [])
    assert (found.earlier.index, found.later.index) == (10, 20)
    assert "are both intact and disagree" in found.message
    assert pure.disagreements(verdicts, [RulesRecord("v2", "1" * 64, AT, 15)]) == []
    # A rules entry outside the pair explains nothing; a broken verdict is never compared.
    assert len(pure.disagreements(verdicts, [RulesRecord("v2", "1" * 64, AT, 25)])) == 1


@pytest.fixture
def verified(ledger, miner, refiner, maker, auditor):
    claim(ledger, maker, simple_chain(ledger, miner, refiner, maker), VIN)
    return verify_claim(VIN, requested_by=auditor.user)


def test_a_rule_change_logged_between_two_verdicts_explains_them(verified, auditor):
    with rule_change(reason="move the FEOC threshold", source="a test notice", by="tester"):
        FeocRule.objects.update(control_threshold_pct=30)
    verify_claim(VIN, requested_by=auditor.user)
    assert verdict_monitor.check_verdicts() == []
    rows = verdict_monitor.history(VIN)
    assert [row["verification"] for row in rows] == [verified.pk, verified.pk + 1]
    assert not any(row["disagrees"] for row in rows)


def test_a_verdict_that_disagrees_unexplained_is_an_incident_and_flagged_on_the_claim_page(
    verified, auditor, client, django_user_model
):
    """A second verdict with another credit and no rules change between: as a
    server that held the ledger key but ran other rules would log it."""
    forged = {**verdict_fields(verified), "verification": verified.pk + 100, "credit_usd": "0"}
    entry = ledger_entries.append("verdict", forged)
    problems = verdict_monitor.check_verdicts()
    assert [(problem.index, problem.code) for problem in problems] == [(entry.index, "verdicts_disagree")]
    assert tasks.monitor_verdicts.run() == 1
    incident = IntegrityIncident.objects.get(code="verdicts_disagree")
    assert f"verification {verified.pk + 100} (entry #{entry.index}, $0)" in incident.message
    # The incremental check runs the monitor too (and finds the row the log lacks).
    assert "verdicts_disagree" in {problem.code for problem in checks.run_incremental()}
    from audit.auditors import create_auditor

    client.force_login(create_auditor("monitor-reader", password="a-long-test-password"))
    page = client.get(f"/admin/provenance/claim/{VIN}/change/").content.decode()
    assert 'id="cairn-verdict-history"' in page
    assert "disagrees with the verdict before it, and no rules change was logged between them" in page
    assert f"#{entry.index}" in page


def test_the_history_is_the_logs_even_when_the_table_loses_a_row(verified):
    tamper("DELETE FROM audit_verification WHERE id = %s", [verified.pk])
    (row,) = verdict_monitor.history(VIN)
    assert (row["verification"], row["credit_usd"], row["pack"]) == (
        verified.pk,
        verified.credit_usd,
        verified.claim.batch_id,
    )
