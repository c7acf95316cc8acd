"""The verdict on one page as PDF (audit.verdict_pdf), read back as text."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from pypdf import PdfReader

from audit import verdict_pdf
from audit.models import Activity, Verification
from tests.admin.conftest import VIN

pytestmark = pytest.mark.django_db
needs_pango = pytest.mark.skipif(not verdict_pdf.available(), reason=verdict_pdf.MISSING)


def pdf_text(content: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(content))
    return len(reader.pages), " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


@needs_pango
def test_the_pdf_is_one_page_with_the_amount_its_reason_and_the_evidence(chain, auditor_client):
    auditor_client.post(reverse("admin:provenance_claim_verify", args=[VIN]))
    verification = Verification.objects.get()
    response = auditor_client.get(reverse("admin:audit_verification_pdf", args=[verification.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="cairn-verdict-{verification.pk}-{VIN}.pdf"'
    pages, text = pdf_text(response.content)
    assert pages == 1
    assert f"Cairn verdict on {VIN}" in text
    assert "$7,500: critical minerals met (+$3,750); battery components met (+$3,750)" in text
    assert f"tree size {verification.checkpoint_size}" in text
    assert "the signature verifies with the ledger key" in text
    assert "It is not the credit allowed" in text
    assert Activity.objects.filter(action="downloaded_pdf", subject=str(verification)).count() == 1


def test_the_pdf_needs_the_view_permission(chain, auditor_client, django_user_model):
    from tests.admin.conftest import PASSWORD
    from tests.support import logged_in

    auditor_client.post(reverse("admin:provenance_claim_verify", args=[VIN]))
    verification = Verification.objects.get()
    stranger = django_user_model.objects.create_user("stranger", password=PASSWORD, is_staff=True)
    response = logged_in(stranger).get(reverse("admin:audit_verification_pdf", args=[verification.pk]))
    assert response.status_code == 403


def test_without_pango_the_pdf_is_a_clear_503_not_a_500(chain, auditor_client, monkeypatch):
    auditor_client.post(reverse("admin:provenance_claim_verify", args=[VIN]))
    verification = Verification.objects.get()
    monkeypatch.setattr(verdict_pdf, "available", lambda: False)

    response = auditor_client.get(reverse("admin:audit_verification_pdf", args=[verification.pk]))

    assert response.status_code == 503
    assert "needs Pango" in response.content.decode()
    assert "apt-get install libpango-1.0-0" in response.content.decode()
    assert not Activity.objects.filter(action="downloaded_pdf").exists()
