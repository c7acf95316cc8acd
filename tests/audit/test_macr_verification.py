"""A stored §45X verification (audit.macr.store_verification): the verdict signed by the
ledger key under its own report type, logged as a `macr_verdict` entry in the same
transaction, and compared with the log by the integrity checks as §30D verdicts are."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit import checks, ledger_views, macr
from audit.auditors import create_auditor
from audit.models import IntegrityIncident, MacrVerification
from cairn_core import dsse, verify_cli
from cairn_core.problems import Code
from cairn_core.regimes.s45x import bundle as s45x_bundle
from cairn_core.regimes.s45x.verdict import REPORT_TYPE
from provenance import ledger_key
from provenance.errors import LedgerError
from provenance.models import Entry, EntryType, ImmutableRecord
from provenance.rule_changes import record_current
from tests.support import raise_value, tamper, tamper_envelope

pytestmark = pytest.mark.django_db


def macr_entries() -> list[dict]:
    rows = Entry.objects.filter(type=EntryType.LEDGER, statement__type="macr_verdict").order_by("index")
    return list(rows.values_list("statement", flat=True))


def test_the_verdict_is_stored_signed_and_logged_together(cells, auditor):
    """$100 of direct materials, $40 attributed (missing certification): 60%, a pass at 2026's 60%."""
    examiner = create_auditor("examiner", password="a-long-test-password", organization=auditor.org)
    verification = macr.store_verification(cells, 2026, requested_by=examiner)
    stored = MacrVerification.objects.get(pk=verification.pk)
    body = stored.as_verdict()
    assert (body["id"], body["outcome"], body["macr"]["percent_shown"]) == (stored.pk, "pass", "60.00")
    assert body["requested_by"] == {"organization": auditor.slug, "user": "examiner"}
    assert (stored.batch_id, stored.taxable_year, stored.sold_year, stored.outcome) == (cells.id, 2026, None, "pass")
    # The report: the verdict with its id, under the §45X payload type, signed by the ledger key.
    report = dsse.envelope_from_dict(stored.report)
    key = ledger_key.current()
    assert report.payload_type == REPORT_TYPE
    assert [signature.keyid for signature in report.signatures] == [key.keyid]
    assert dsse.verify_signature(key.public_key, report.pae, report.signatures[0].sig)
    assert json.loads(base64.b64decode(stored.report["payload"])) == {k: v for k, v in body.items() if k != "report"}
    # Its ledger entry, as the bundle verifier expects it.
    (entry,) = macr_entries()
    expected = s45x_bundle.expected_entry(body)
    assert {name: entry[name] for name in expected} == expected
    assert entry["at"] == body["verified_at"]
    assert ledger_views.check_ledger_tables() == []


def test_a_year_sold_asked_is_stored_and_signed_as_such(cells):
    """The same 60% as if sold in 2027: under 2027's 65%, a fail, and the verdict says the year was asked."""
    verification = macr.store_verification(cells, 2026, 2027, requested_by=None)
    body = verification.as_verdict()
    assert (body["outcome"], body["threshold"]["percent"]) == ("fail", "65")
    assert body["year_sold"] == {"year": 2027, "source": "what_if", "sale": None}
    assert verification.sold_year == 2027 and macr_entries()[0]["outcome"] == "fail"


def test_a_stored_verification_is_never_changed(cells):
    verification = macr.store_verification(cells, 2026, requested_by=None)
    with pytest.raises(ImmutableRecord):
        verification.save()
    with pytest.raises(ImmutableRecord):
        MacrVerification.objects.filter(pk=verification.pk).update(outcome="fail")
    with pytest.raises(ImmutableRecord):
        verification.delete()


def test_rule_data_the_log_does_not_record_stores_nothing(cells):
    record_current(reason="after the migrations", source="the data migrations", by="tester")
    tamper("UPDATE material_assistance_macrthreshold SET percent = 50 WHERE percent = 60")
    before = Entry.objects.count()
    with pytest.raises(LedgerError) as refused:
        macr.store_verification(cells, 2026, requested_by=None)
    assert refused.value.code == "unavailable"
    assert MacrVerification.objects.count() == 0 and Entry.objects.count() == before


def caught(*words: str) -> None:
    """The tables' check names it, and the incremental check records it as an incident."""
    messages = [problem.message for problem in ledger_views.check_ledger_tables()]
    assert all(any(word in message for message in messages) for word in words), messages
    checks.run_incremental()
    found = IntegrityIncident.objects.filter(code=Code.VERIFICATION_ROW).values_list("message", flat=True)
    assert all(any(word in message for message in found) for word in words), list(found)


def test_a_stored_ratio_changed_afterwards_is_an_incident(cells):
    verification = macr.store_verification(cells, 2026, requested_by=None)
    changed = {**verification.verdict, "macr": {"ratio": "0.700000000000", "percent_shown": "70.00"}}
    tamper("UPDATE audit_macrverification SET verdict = %s WHERE id = %s", [json.dumps(changed), verification.pk])
    caught(f"audit_macrverification row {verification.pk} ({cells.id}, 2026): verdict is")


def test_a_stored_outcome_changed_and_a_deleted_row_are_named(cells):
    first = macr.store_verification(cells, 2026, requested_by=None)
    second = macr.store_verification(cells, 2026, 2027, requested_by=None)
    tamper("UPDATE audit_macrverification SET outcome = 'pass' WHERE id = %s", [second.pk])
    tamper("DELETE FROM audit_macrverification WHERE id = %s", [first.pk])
    caught('outcome is "pass"', f"records §45X verification {first.pk} of {cells.id} for 2026")


def test_the_command_stores_with_store_and_writes_the_bundle(cells, tmp_path):
    out = io.StringIO()
    call_command("macr_verdict", cells.id, "--year", "2026", stdout=out)
    assert json.loads(out.getvalue())["outcome"] == "pass" and MacrVerification.objects.count() == 0
    with pytest.raises(CommandError, match="run with --store first"):
        call_command("macr_verdict", cells.id, "--year", "2026", "--bundle", str(tmp_path), stdout=io.StringIO())
    out = io.StringIO()
    call_command("macr_verdict", cells.id, "--year", "2026", "--sold-year", "2027", "--store", stdout=out)
    stored = MacrVerification.objects.get()
    assert json.loads(out.getvalue()) == stored.as_verdict() and stored.outcome == "fail"
    assert stored.requested_by is None and stored.as_verdict()["requested_by"]["user"] is None
    call_command(
        "macr_verdict",
        cells.id,
        "--year",
        "2026",
        "--sold-year",
        "2027",
        "--bundle",
        str(tmp_path),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    path = tmp_path / s45x_bundle.file_name(cells.id, 2026, stored.pk)
    assert verify_cli.main([str(path), "--log-key", ledger_key.current().verifier]) == 0
    call_command(
        "macr_verdict",
        cells.id,
        "--year",
        "2026",
        "--store",
        "--bundle",
        str(tmp_path / "b.json.gz"),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    assert MacrVerification.objects.count() == 2
    assert verify_cli.main([str(tmp_path / "b.json.gz"), "--log-key", ledger_key.current().verifier]) == 0


def test_a_broken_verdict_is_stored_incomplete_and_raises_its_incident(cells):
    """An input's creating entry changed after it was logged: the evidence cannot be relied on."""
    origin = Entry.objects.get(type="origin", statement__outputs__0__batch="pilbara-mining:graphite-1").index
    tamper_envelope(origin, raise_value)
    verification = macr.store_verification(cells, 2026, requested_by=None)
    body = verification.as_verdict()
    assert (body["outcome"], body["integrity"]) == ("incomplete", "broken") and body["problems"]
    found = IntegrityIncident.objects.filter(detected_by=f"§45X verification {verification.pk}")
    assert found.exists() and f"entry #{origin}" in set(found.values_list("suspect", flat=True))
    assert macr_entries()[0]["integrity"] == "broken"
