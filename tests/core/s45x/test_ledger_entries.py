"""The ledger entries §45X adds (contract §12): rules of regime "45x", macr_verdict."""

from __future__ import annotations

import datetime as dt

import pytest

from cairn_core import ledger_entries

AT = dt.datetime(2027, 3, 1, 10, tzinfo=dt.UTC)
RULES = {"version": "ab" * 32, "sha256": "ab" * 32, "changes": [], "reason": "r", "source": "s", "by": "command:x"}
VERDICT = {
    "verification": 7,
    "batch": "ohio-cells:cell-1",
    "taxable_year": 2026,
    "outcome": "pass",
    "integrity": "intact",
    "report_sha256": "cd" * 32,
    "requested_by": {"organization": "examiners", "user": None},
}


def test_rules_of_another_regime_are_kept_apart_from_30d_rules():
    state = ledger_entries.LedgerState()
    state.apply(0, ledger_entries.payload("rules", AT, {**RULES, "version": "v30d", "sha256": "ef" * 32}))
    state.apply(1, ledger_entries.payload("rules", AT, {**RULES, "regime": "45x"}))
    assert [record.version for record in state.rules] == ["v30d"]
    assert [(record.index, record.regime) for record in state.regime_rules["45x"]] == [(1, "45x")]


def test_a_macr_verdict_is_replayed_once():
    state = ledger_entries.LedgerState()
    entry = ledger_entries.payload("macr_verdict", AT, VERDICT)
    assert state.apply(5, entry) == []
    assert state.macr_verdicts[7].outcome == "pass" and state.macr_verdicts[7].index == 5
    assert state.apply(6, entry) == ["§45X verification 7 is logged again (first at entry 5)"]


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("rules", {**RULES, "regime": "30d"}),
        ("rules", {**RULES, "regime": None}),
        ("macr_verdict", {**VERDICT, "outcome": "maybe"}),
        ("macr_verdict", {**VERDICT, "taxable_year": "2026"}),
        ("macr_verdict", {**VERDICT, "batch": "no-colon"}),
        ("macr_verdict", {**VERDICT, "vin": "5YJ3E1EA0PF000777"}),
        ("macr_verdict", {key: value for key, value in VERDICT.items() if key != "report_sha256"}),
        ("verdict", {**VERDICT}),
    ],
)
def test_entries_off_their_grammar_are_refused(kind, fields):
    with pytest.raises(ledger_entries.LedgerEntryError):
        ledger_entries.payload(kind, AT, fields)
