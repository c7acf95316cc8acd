"""Model vocabulary: QuerySet methods, single-object questions, validation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from agreements.models import (
    AgreementEvent,
    FeocDesignation,
    TradeAgreement,
)

pytestmark = pytest.mark.django_db
D = dt.date.fromisoformat


def in_force(day: str) -> list[str]:
    return sorted(TradeAgreement.objects.in_force(on=D(day)).values_list("slug", flat=True))


def test_in_force_by_date():
    """Each agreement from its entry into force (IRC §30D(e)(1)(A)(i): "in effect"; USTR)."""
    assert in_force("1985-08-31") == []
    assert in_force("1985-09-01") == ["us-il-fta"]
    assert "us-au-fta" not in in_force("2004-12-31")
    assert "us-au-fta" in in_force("2005-01-01")
    assert {"us-ca-nafta", "us-mx-nafta"} <= set(in_force("2020-06-30"))
    assert {"us-ca-nafta", "us-mx-nafta"}.isdisjoint(in_force("2020-07-01"))
    assert "us-japan-cma" not in in_force("2023-03-27")
    assert len(in_force("2023-03-27")) == 20
    assert len(in_force("2023-03-28")) == 21
    assert len(in_force("2023-04-18")) == 21


def test_in_force_excludes_terminated_suspended_and_ended():
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    AgreementEvent.objects.create(
        agreement=japan,
        kind="termination",
        effective_from=D("2025-10-01"),
        source="https://example.org/t",
    )
    AgreementEvent.objects.create(
        agreement_id="us-kr-fta",
        kind="suspension",
        effective_from=D("2024-03-01"),
        effective_to=D("2024-03-31"),
        source="https://example.org/s",
    )
    TradeAgreement.objects.filter(slug="us-sg-fta").update(ends=D("2024-12-31"))
    assert "us-japan-cma" in in_force("2025-09-30")
    assert "us-japan-cma" not in in_force("2025-10-01")
    assert "us-kr-fta" not in in_force("2024-03-31")
    assert "us-kr-fta" in in_force("2024-04-01")
    assert "us-sg-fta" in in_force("2024-12-31")
    assert "us-sg-fta" not in in_force("2025-01-01")


def test_with_party():
    assert list(TradeAgreement.objects.with_party("JP").values_list("slug", flat=True)) == ["us-japan-cma"]
    assert list(TradeAgreement.objects.with_party("kr").values_list("slug", flat=True)) == ["us-kr-fta"]
    assert TradeAgreement.objects.with_party("US").count() == 23


def test_single_object_questions():
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    assert japan.is_in_force(D("2023-03-27")) is False
    assert japan.is_in_force(D("2023-03-28")) is True
    assert japan.covers("lithium", D("2024-06-01")) is True
    assert japan.covers("aluminum", D("2024-06-01")) is False
    AgreementEvent.objects.create(
        agreement=japan,
        kind="amendment",
        effective_from=D("2024-07-01"),
        minerals_added=["aluminum"],
        source="https://example.org/a",
    )
    assert japan.covers("aluminum", D("2024-06-30")) is False
    assert japan.covers("aluminum", D("2024-07-01")) is True


def test_review_due_from_the_cadence():
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    assert japan.review_date() == D("2025-03-28")
    assert japan.review_due(D("2025-03-27")) is False
    assert japan.review_due(D("2025-03-28")) is True
    japan.next_review = D("2027-03-28")
    assert japan.review_due(D("2026-01-01")) is False
    australia = TradeAgreement.objects.get(slug="us-au-fta")
    assert australia.review_date() is None
    assert australia.review_due(D("2030-01-01")) is False


def test_agreement_validation():
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    japan.ends = D("2023-01-01")
    with pytest.raises(ValidationError, match="cannot end before it counts"):
        japan.full_clean()
    japan.ends = None
    japan.covered_minerals = ["lithium", "unobtainium"]
    with pytest.raises(ValidationError, match="Unknown critical minerals: unobtainium"):
        japan.full_clean()
    japan.covered_minerals = ["lithium"]
    japan.parties = ["JP"]
    with pytest.raises(ValidationError, match="The United States is a party"):
        japan.full_clean()


def test_event_validation():
    event = AgreementEvent(
        agreement_id="us-au-fta",
        kind="termination",
        effective_from=D("2025-01-01"),
        effective_to=D("2025-02-01"),
        source="https://example.org/x",
    )
    with pytest.raises(ValidationError, match="Only a suspension has an end date"):
        event.full_clean()
    event.kind, event.effective_to, event.minerals_removed = "suspension", None, ["zinc"]
    with pytest.raises(ValidationError, match="Only an amendment changes the covered minerals"):
        event.full_clean()


def test_designation_in_effect(rows):
    org = rows.org("sino-stake", country="ID")
    FeocDesignation.objects.create(
        organization=org.slug,
        basis="control_25pct",
        covered_nation="CN",
        effective_from=D("2024-05-01"),
        effective_to=D("2024-12-31"),
        source="https://example.org/d",
    )
    assert FeocDesignation.objects.in_effect(on=D("2024-04-30")).count() == 0
    assert FeocDesignation.objects.in_effect(on=D("2024-05-01")).count() == 1
    assert FeocDesignation.objects.in_effect(on=D("2024-12-31")).count() == 1
    assert FeocDesignation.objects.in_effect(on=D("2025-01-01")).count() == 0
