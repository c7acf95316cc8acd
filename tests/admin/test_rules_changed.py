"""A verdict says "rules changed since this verdict" when a rule it relied on changed (audit.rules_since)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from agreements.models import AgreementEvent
from audit import rules_since
from audit.models import Verification
from provenance.rule_changes import rule_change
from tests.admin.conftest import VIN

pytestmark = pytest.mark.django_db


@pytest.fixture
def verification(chain, auditor_client):
    auditor_client.post(reverse("admin:provenance_claim_verify", args=[VIN]))
    found = Verification.objects.get()
    assert found.verdict["agreements"] == ["us-au-fta", "us-japan-cma"]
    return found


def amend(slug: str, reason: str) -> None:
    with rule_change(reason=reason, source="https://example.org/notice", by="root"):
        AgreementEvent.objects.create(
            agreement_id=slug,
            kind="amendment",
            effective_from=dt.date(2027, 1, 1),
            minerals_added=["aluminum"],
            source="https://example.org/amendment",
        )


def page_of(client, verification) -> str:
    return client.get(reverse("admin:audit_verification_change", args=[verification.pk])).content.decode()


def test_a_change_to_an_agreement_the_verdict_relied_on_is_named_on_its_page(verification, auditor_client):
    assert "Rules changed since this verdict" not in page_of(auditor_client, verification)
    amend("us-japan-cma", "Japan amendment")

    [change] = rules_since.changes_since(verification)
    assert change.rows == ("agreements us-japan-cma",)
    assert (change.reason, change.source, change.by) == ("Japan amendment", "https://example.org/notice", "root")
    page = page_of(auditor_client, verification)
    assert "Rules changed since this verdict" in page
    assert f"#{change.index}</a>: agreements us-japan-cma, by root: Japan amendment" in page


def test_a_change_to_an_agreement_the_verdict_did_not_rely_on_is_not_flagged(verification, auditor_client):
    amend("us-cl-fta", "Chile amendment")
    assert rules_since.changes_since(verification) == []
    assert "Rules changed since this verdict" not in page_of(auditor_client, verification)


def test_which_rows_a_verdict_relied_on():
    verdict = {"agreements": ["us-au-fta"], "applied": {"schedule_row": {"placed_in_service_from": "2024-01-01"}}}
    assert rules_since.relied_on({"table": "agreements", "row": "us-au-fta"}, verdict)
    assert not rules_since.relied_on({"table": "agreements", "row": "us-cl-fta"}, verdict)
    assert rules_since.relied_on({"table": "percentages", "row": "2024-01-01"}, verdict)
    assert not rules_since.relied_on({"table": "percentages", "row": "2025-01-01"}, verdict)
    assert rules_since.relied_on({"table": "feoc", "row": "feoc"}, verdict)
    assert rules_since.relied_on({"table": "percentages", "row": "2025-01-01"}, {"agreements": []})
