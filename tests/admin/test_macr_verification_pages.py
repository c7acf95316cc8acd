"""Signing and storing a §45X verdict from its page, and the stored verifications' pages
(audit/admin/macr.py's store view, audit/admin/macr_verifications.py)."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from pypdf import PdfReader

from audit import macr, macr_text, verdict_pdf
from audit.models import Activity, IntegrityIncident, MacrVerification
from cairn_core import signed_note
from cairn_core.regimes.s45x import bundle as s45x_bundle
from provenance import ledger_key
from provenance.models import Entry, EntryType
from tests.support import logged_in, raise_value, start_witness, tamper_envelope

pytestmark = pytest.mark.django_db
CELLS = "detroit-cells:cells-1"


def page_url(year: int = 2026) -> str:
    return reverse("admin:provenance_batch_macr", args=[quote(CELLS), year])


def store_url(year: int = 2026) -> str:
    return reverse("admin:provenance_batch_macr_store", args=[quote(CELLS), year])


def detail_url(verification: MacrVerification) -> str:
    return reverse("admin:audit_macrverification_change", args=[verification.pk])


def words(response) -> str:
    html = response.content.decode()
    inline = re.sub(r"</?(a|strong|code|span|time)\b[^>]*>", "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inline))


def verdict_entries() -> int:
    return Entry.objects.filter(type=EntryType.LEDGER, statement__type=s45x_bundle.VERDICT_KIND).count()


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def batch_viewer(db) -> User:
    """Staff who may view batches and §45X verifications, but not run verifications."""
    user = User.objects.create_user("batch-viewer", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_batch", "view_macrverification", "view_entry"])
    )
    return user


def test_sign_and_store_stores_one_verification_and_one_entry_then_shows_it(cells, auditor_user):
    client = logged_in(auditor_user)
    page = client.get(page_url())
    assert 'id="cairn-macr-store"' in page.content.decode() and f'action="{store_url()}"' in page.content.decode()
    assert "csrfmiddlewaretoken" in page.content.decode()
    entries = verdict_entries()
    response = client.post(store_url())
    stored = MacrVerification.objects.get()
    assert response.status_code == 302 and response["Location"] == detail_url(stored)
    assert (stored.batch_id, stored.taxable_year, stored.sold_year, stored.outcome) == (CELLS, 2026, None, "pass")
    assert stored.requested_by == auditor_user and stored.report
    assert verdict_entries() == entries + 1
    ran = Activity.objects.get(action=Activity.Action.RAN_VERIFICATION)
    assert ran.subject == str(stored)
    shown = client.get(response["Location"])
    assert shown.status_code == 200
    assert f"Stored and signed: {stored}." in shown_messages(shown)
    said = words(shown)
    assert "Pass: 60.00% of the direct material costs ($60 of $100) are not attributed" in said
    assert "Material assistance cost ratio 60.00% (truncated" in said


def test_csrf_is_required(cells, auditor_user):
    client = logged_in(auditor_user)
    client.handler.enforce_csrf_checks = True
    assert client.post(store_url()).status_code == 403
    assert not MacrVerification.objects.exists()


def test_a_year_sold_what_if_is_signed_as_shown(cells, auditor_user):
    client = logged_in(auditor_user)
    page = client.get(page_url(), {"what_if": "1", "year_sold": "2027"})
    html = page.content.decode()
    assert 'id="cairn-macr-store-what-if"' in html and 'name="sold_year" value="2027"' in html
    assert "Sign and store this verdict, as if sold in 2027" in words(page)
    response = client.post(store_url(), {"sold_year": "2027"})
    stored = MacrVerification.objects.get()
    assert response["Location"] == detail_url(stored)
    assert (stored.sold_year, stored.outcome) == (2027, "fail")
    assert "2027: the verdict as if the batch were sold that year" in words(client.get(detail_url(stored)))


def test_a_designation_what_if_is_not_signed(cells, auditor_user):
    client = logged_in(auditor_user)
    asked = {"what_if": "1", "designate": "kansai-refining", "kind": "specified", "year_sold": "2027"}
    page = client.get(page_url(), asked)
    html = page.content.decode()
    assert 'id="cairn-macr-what-if-result"' in html
    assert 'id="cairn-macr-store-what-if"' not in html and 'id="cairn-macr-not-signable"' in html
    # Whatever is posted beside it, only a year sold reaches the signed verdict.
    client.post(store_url(), {"designate": "kansai-refining", "kind": "specified"})
    stored = MacrVerification.objects.get()
    logged = macr.macr_verdict(cells, 2026)
    assert (stored.outcome, stored.verdict["rules_version"]) == ("pass", logged["rules_version"])
    assert stored.verdict["totals"] == logged["totals"]


def test_a_user_who_may_not_verify_sees_no_button_and_cannot_store(cells, batch_viewer, staff_viewer):
    client = logged_in(batch_viewer)
    page = client.get(page_url())
    assert page.status_code == 200 and 'id="cairn-macr-store"' not in page.content.decode()
    assert client.post(store_url()).status_code == 403
    assert logged_in(staff_viewer).post(store_url()).status_code == 403
    assert not MacrVerification.objects.exists() and verdict_entries() == 0
    assert not Activity.objects.filter(action=Activity.Action.RAN_VERIFICATION).exists()


def test_without_the_witnesses_quorum_nothing_is_stored(cells, auditor_user, settings, tmp_path):
    witness = start_witness("witness.test/w1", tmp_path / "w1")
    witness.stop()
    settings.LEDGER_WITNESSES = [witness.config]
    settings.LEDGER_WITNESS_QUORUM = 1
    settings.LEDGER_WITNESS_TIMEOUT = 0.5
    client = logged_in(auditor_user)
    entries = verdict_entries()
    response = client.post(store_url(), follow=True)
    assert response.redirect_chain == [(page_url(), 302)]
    [said] = shown_messages(response)
    assert said.startswith("Not stored: ") and "witness" in said.lower()
    assert not MacrVerification.objects.exists() and verdict_entries() == entries


def test_a_year_sold_that_is_no_year_stores_nothing(cells, auditor_user):
    response = logged_in(auditor_user).post(store_url(), {"sold_year": "soon"}, follow=True)
    assert shown_messages(response) == ["Not stored: no year sold 'soon'."]
    assert not MacrVerification.objects.exists() and verdict_entries() == 0


def test_broken_evidence_is_stored_incomplete_with_its_incidents(cells, auditor_user):
    origin = Entry.objects.get(type="origin", statement__outputs__0__batch="pilbara-mining:graphite-1").index
    tamper_envelope(origin, raise_value)
    response = logged_in(auditor_user).post(store_url(), follow=True)
    stored = MacrVerification.objects.get()
    assert (stored.outcome, stored.integrity) == ("incomplete", "broken")
    assert IntegrityIncident.objects.filter(detected_by=f"§45X verification {stored.pk}").exists()
    [said] = shown_messages(response)
    assert said.startswith("Stored, as incomplete: the evidence fails its integrity checks")
    incident = IntegrityIncident.objects.filter(detected_by=f"§45X verification {stored.pk}").first()
    assert (
        f'href="{reverse("admin:audit_integrityincident_change", args=[incident.pk])}"'
        in (response.content.decode().split('id="cairn-macr-incidents"')[1])
    )


def test_a_stored_verdict_shows_the_incidents_holding_its_problems_whoever_opened_them(cells, auditor_user):
    """The same broken evidence stored twice: its problems are recorded once,
    by the first verification, and the second's page still shows them."""
    origin = Entry.objects.get(type="origin", statement__outputs__0__batch="pilbara-mining:graphite-1").index
    tamper_envelope(origin, raise_value)
    first = macr.store_verification(cells, 2026, requested_by=auditor_user)
    second = macr.store_verification(cells, 2026, requested_by=auditor_user)
    opened = list(IntegrityIncident.objects.order_by("id"))
    assert opened and {incident.detected_by for incident in opened} == {f"§45X verification {first.pk}"}
    html = logged_in(auditor_user).get(detail_url(second)).content.decode()
    shown = html.split('id="cairn-macr-incidents"')[1]
    for incident in opened:
        assert f'href="{reverse("admin:audit_integrityincident_change", args=[incident.pk])}"' in shown


def test_the_list_shows_each_stored_verification_with_filters(cells, auditor_user):
    passed = macr.store_verification(cells, 2026, requested_by=auditor_user)
    failed = macr.store_verification(cells, 2026, 2027, requested_by=None)
    client = logged_in(auditor_user)
    url = reverse("admin:audit_macrverification_changelist")
    response = client.get(url)
    assert response.status_code == 200
    said = words(response)
    assert CELLS in said and "Pass" in said and "Fail" in said and "60.00%" in said
    sale = Entry.objects.get(type="sale").index
    assert f"2026 (sale #{sale})" in said and macr_text.year_sold_short(failed.verdict) in said
    assert reverse("admin:audit_macrverification_add") not in response.content.decode()
    only_failed = client.get(url, {"outcome": "fail"})
    assert list(only_failed.context["cl"].result_list) == [failed]
    only_2026 = client.get(url, {"taxable_year": "2026"})
    assert set(only_2026.context["cl"].result_list) == {passed, failed}


def test_the_stored_verifications_are_read_only(cells, auditor_user, superuser):
    stored = macr.store_verification(cells, 2026, requested_by=auditor_user)
    for user in (auditor_user, superuser):
        client = logged_in(user)
        assert client.get(reverse("admin:audit_macrverification_add")).status_code == 403
        assert client.post(reverse("admin:audit_macrverification_delete", args=[stored.pk])).status_code == 403
    assert MacrVerification.objects.get() == stored


def test_the_detail_page_tells_the_stored_verdict(cells, auditor_user):
    stored = macr.store_verification(cells, 2026, requested_by=auditor_user)
    [entry] = Entry.objects.filter(type=EntryType.LEDGER, statement__type=s45x_bundle.VERDICT_KIND)
    client = logged_in(auditor_user)
    response = client.get(detail_url(stored))
    assert response.status_code == 200
    html, said = response.content.decode(), words(response)
    assert "Pass: 60.00% of the direct material costs ($60 of $100) are not attributed" in said
    assert "Attributed to prohibited foreign entities $40 (not attributed: $60)" in said
    assert f"(user {auditor_user.get_username()}), as the signed report says" in said
    assert f'href="{reverse("admin:provenance_entry_change", args=[entry.index])}"' in html
    assert f"macr_verdict ledger entry #{entry.index}" in said
    assert "the signature verifies with the ledger key" in said
    assert stored.checkpoint.splitlines()[0] in html
    assert reverse("admin:audit_macrverification_bundle", args=[stored.pk]) in html
    viewed = Activity.objects.get(action=Activity.Action.VIEWED_VERDICT)
    assert viewed.subject == str(stored)
    assert client.get(reverse("admin:audit_macrverification_change", args=["x"])).status_code == 404


def test_the_downloaded_bundle_verifies_under_the_pinned_log_key(cells, auditor_user):
    client = logged_in(auditor_user)
    client.post(store_url())
    stored = MacrVerification.objects.get()
    response = client.get(reverse("admin:audit_macrverification_bundle", args=[stored.pk]))
    assert response.status_code == 200
    name = s45x_bundle.file_name(CELLS, 2026, stored.pk)
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    document = json.loads(response.content)
    pinned = signed_note.parse_verifier(ledger_key.current().verifier)
    result = s45x_bundle.verify(document, log_key=pinned)
    assert result.failures == [] and result.trusted
    assert result.verdict["id"] == stored.pk and result.verdict_entry is not None
    report = client.get(reverse("admin:audit_macrverification_report", args=[stored.pk]))
    assert json.loads(report.content) == stored.report
    done = set(Activity.objects.values_list("action", flat=True))
    assert {Activity.Action.DOWNLOADED_BUNDLE, Activity.Action.DOWNLOADED_REPORT} <= done


needs_pango = pytest.mark.skipif(not verdict_pdf.available(), reason=verdict_pdf.MISSING)


@needs_pango
def test_the_pdf_tells_the_stored_verdict_on_paper(cells, auditor_user):
    stored = macr.store_verification(cells, 2026, requested_by=auditor_user)
    client, url = logged_in(auditor_user), reverse("admin:audit_macrverification_pdf", args=[stored.pk])
    assert url in client.get(detail_url(stored)).content.decode()
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    name = f"cairn-macr-verdict-{stored.pk}-detroit-cells.cells-1-2026.pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert len(reader.pages) == 1
    assert f"Cairn §45X verdict on {CELLS}, taxable year 2026" in text
    assert "Pass: 60.00% of the direct material costs ($60 of $100) are not attributed" in text
    assert "$100, of which $40 attributed to prohibited foreign entities" in text
    assert "the signature verifies with the ledger key" in text
    assert f"tree size {stored.checkpoint_size}" in text
    assert Activity.objects.filter(action=Activity.Action.DOWNLOADED_PDF, subject=str(stored)).count() == 1


def test_the_pdf_needs_the_view_permission_and_pango(cells, auditor_user, staff_viewer, monkeypatch):
    stored = macr.store_verification(cells, 2026, requested_by=auditor_user)
    url = reverse("admin:audit_macrverification_pdf", args=[stored.pk])
    assert logged_in(staff_viewer).get(url).status_code == 403
    monkeypatch.setattr(verdict_pdf, "available", lambda: False)
    response = logged_in(auditor_user).get(url)
    assert response.status_code == 503 and b"Pango" in response.content
    assert not Activity.objects.filter(action=Activity.Action.DOWNLOADED_PDF).exists()
