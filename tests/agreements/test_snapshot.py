"""Loading RuleSets from the database: versions, caching, and the past."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agreements import snapshot
from agreements.models import AgreementEvent, FeocDesignation, TradeAgreement
from cairn_core.regimes.s30d import rules

pytestmark = pytest.mark.django_db
D = dt.date.fromisoformat


def test_load_ruleset_reads_every_table_in_few_queries():
    with CaptureQueriesContext(connection) as queries:
        ruleset = snapshot.load_ruleset()
    assert len(queries) == 9  # version, 7 tables, version again
    assert len(ruleset.agreements) == 23  # 20 FTAs, NAFTA for CA and MX, Japan
    assert ruleset.version == snapshot.rules_version()


def test_version_changes_with_every_rule_change():
    first = snapshot.rules_version()
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    japan.notes += " Reviewed."
    japan.save()
    second = snapshot.rules_version()
    assert second != first
    AgreementEvent.objects.create(
        agreement=japan,
        kind="termination",
        effective_from=D("2026-01-01"),
        source="https://example.org/t",
    )
    assert snapshot.rules_version() not in (first, second)


def test_current_ruleset_is_cached_until_the_rules_change():
    first = snapshot.current_ruleset()
    with CaptureQueriesContext(connection) as queries:
        assert snapshot.current_ruleset() is first
    assert len(queries) == 1
    AgreementEvent.objects.create(
        agreement_id="us-japan-cma",
        kind="termination",
        effective_from=D("2024-06-01"),
        source="https://example.org/t",
    )
    second = snapshot.current_ruleset()
    assert second is not first
    assert rules.qualifying_agreements(second, "JP", "lithium", D("2024-06-01")) == []
    assert [ref.slug for ref in rules.qualifying_agreements(first, "JP", "lithium", D("2024-06-01"))] == [
        "us-japan-cma"
    ]


def test_load_ruleset_as_of_reconstructs_earlier_rules():
    before_change = timezone.now()
    before = snapshot.load_ruleset()
    AgreementEvent.objects.create(
        agreement_id="us-japan-cma",
        kind="termination",
        effective_from=D("2024-06-01"),
        source="https://example.org/t",
    )
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    japan.covered_minerals = ["lithium"]
    japan.save()

    past = snapshot.load_ruleset(as_of=before_change)
    now = snapshot.load_ruleset()
    assert past.version == before.version
    assert past.agreement("us-japan-cma") == before.agreement("us-japan-cma")
    assert now.agreement("us-japan-cma").minerals == frozenset({"lithium"})
    assert len(now.agreement("us-japan-cma").events) == 1
    assert rules.qualifying_agreements(now, "JP", "nickel", D("2024-01-01")) == []
    assert [ref.slug for ref in rules.qualifying_agreements(past, "JP", "nickel", D("2024-01-01"))] == ["us-japan-cma"]


def test_designations_are_loaded(rows):
    org = rows.org("sino-stake", country="ID")
    FeocDesignation.objects.create(
        organization=org.slug,
        basis="listing",
        covered_nation="CN",
        effective_from=D("2024-05-01"),
        source="https://example.org/d",
    )
    ruleset = snapshot.load_ruleset()
    assert ruleset.designations == (
        rules.Designation("sino-stake", "listing", "CN", D("2024-05-01"), None, "https://example.org/d"),
    )
    assert rules.is_feoc(ruleset, "sino-stake", "ID", "ID", D("2024-05-01"), "minerals") is True
    assert rules.is_feoc(ruleset, "sino-stake", "ID", "ID", D("2024-04-30"), "minerals") is False


def test_an_entity_that_takes_no_part_in_cairn_can_be_designated(rows):
    """A designation names its entity by slug: no organisation is needed for it."""
    FeocDesignation.objects.create(
        organization="listed-refiner-not-in-cairn",
        basis="listing",
        covered_nation="CN",
        effective_from=D("2024-05-01"),
        source="https://example.org/d",
    )
    ruleset = snapshot.load_ruleset()
    assert [d.organization for d in ruleset.designations] == ["listed-refiner-not-in-cairn"]
    assert rules.is_feoc(ruleset, "listed-refiner-not-in-cairn", "ID", "ID", D("2024-05-01"), "minerals") is True


def test_missing_single_row_is_reported():
    from agreements.models import FeocRule

    FeocRule.objects.all().delete()
    with pytest.raises(LookupError, match="expected one row of FEOC rule, found 0"):
        snapshot.load_ruleset()
