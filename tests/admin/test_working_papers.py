"""The working papers: CSV exports of claims and verdicts, and the activity log."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from audit import working_papers
from audit.models import Activity, Verification
from provenance.models import ImmutableRecord
from tests.admin.conftest import VIN

pytestmark = pytest.mark.django_db

CLAIMS = reverse("admin:provenance_claim_changelist")
VERDICTS = reverse("admin:audit_verification_changelist")
ACTIVITY = reverse("admin:audit_activity_changelist")
VERIFY = reverse("admin:provenance_claim_verify", args=[VIN])


def rows_of(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="cairn-')
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def export(client, url, action, *pks):
    return client.post(url, {"action": action, "_selected_action": [str(pk) for pk in pks]})


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tlead", "'\tlead"),
        ("1RVM24J60JP000101", "1RVM24J60JP000101"),
        (3750, "3750"),
        (None, ""),
    ],
)
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(value, written):
    assert working_papers.safe_cell(value) == written


def test_quotes_commas_and_line_breaks_survive_the_round_trip():
    text = working_papers.to_csv(("a", "b"), [{"a": 'say "hi", then', "b": "one\ntwo"}])
    assert text == 'a,b\r\n"say ""hi"", then","one\ntwo"\r\n'
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ['say "hi", then', "one\ntwo"]]


def test_verdicts_export_has_every_column_an_auditor_files(chain, auditor_client, auditor_user):
    auditor_client.post(VERIFY)
    verification = Verification.objects.get()
    [row] = rows_of(export(auditor_client, VERDICTS, "export_csv", verification.pk))
    assert row == {
        "verification": str(verification.pk),
        "vin": VIN,
        "credit_usd": "7500",
        "integrity": "intact",
        "explanation": "$7,500: critical minerals met (+$3,750); battery components met (+$3,750)",
        "rules_version": verification.rules_version,
        "checkpoint_size": str(verification.checkpoint_size),
        "verified_at": verification.verdict["verified_at"],
        "requested_by": "auditor",
        "problems": "",
    }
    assert row["verified_at"].endswith("Z")


def test_claims_export_lists_unverified_claims_too(chain, auditor_client):
    [row] = rows_of(export(auditor_client, CLAIMS, "export_csv", VIN))
    assert row["vin"] == VIN and row["credit_usd"] == "not verified" and row["verified_at"] == ""
    auditor_client.post(VERIFY)
    [row] = rows_of(export(auditor_client, CLAIMS, "export_csv", VIN))
    assert row["credit_usd"] == "7500" and row["integrity"] == "intact"
    assert list(row)[:5] == ["vin", "manufacturer", "placed_in_service", "acquired", "final_assembly_country"]


def test_each_view_verification_download_and_export_is_logged_for_its_user(chain, auditor_client, auditor_user):
    auditor_client.post(VERIFY)
    verification = Verification.objects.get()
    auditor_client.get(reverse("admin:audit_verification_change", args=[verification.pk]))
    auditor_client.get(reverse("admin:audit_verification_report", args=[verification.pk]))
    auditor_client.get(reverse("admin:audit_verification_bundle", args=[verification.pk]))
    export(auditor_client, VERDICTS, "export_csv", verification.pk)

    logged = list(Activity.objects.order_by("id").values_list("user__username", "action", "subject"))
    assert logged[:4] == [
        ("auditor", "ran_verification", VIN),
        ("auditor", "viewed_verdict", str(verification)),
        ("auditor", "downloaded_report", str(verification)),
        ("auditor", "downloaded_bundle", str(verification)),
    ]
    assert logged[4][:2] == ("auditor", "exported_csv") and logged[4][2].startswith("cairn-verdicts-")
    assert Activity.objects.get(action="exported_csv").parameters == {"rows": 1}


def test_the_activity_log_is_shown_exported_and_never_changed(chain, auditor_client, root_client):
    auditor_client.post(VERIFY)
    page = root_client.get(ACTIVITY).content.decode()
    assert "ran a verification" in page and VIN in page and " UTC" in page
    first = Activity.objects.get()
    rows = rows_of(export(root_client, ACTIVITY, "export_csv", first.pk))
    assert rows == [
        {"at": rows[0]["at"], "user": "auditor", "action": "ran a verification", "subject": VIN, "parameters": ""}
    ]
    # Append-only: no change or delete, in the admin or in code.
    assert root_client.get(reverse("admin:audit_activity_delete", args=[first.pk])).status_code == 403
    assert (
        root_client.post(reverse("admin:audit_activity_change", args=[first.pk]), {"subject": "x"}).status_code == 403
    )
    with pytest.raises(ImmutableRecord):
        Activity.objects.filter(pk=first.pk).update(subject="x")
    with pytest.raises(ImmutableRecord):
        first.delete()
    assert Activity.objects.get(pk=first.pk).subject == VIN
