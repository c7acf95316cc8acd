"""The data migration loads DOMAIN.md's facts, each row with its source and history."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from agreements import models
from agreements.snapshot import current_ruleset, load_ruleset
from cairn_core.regimes.s30d import rules
from tests.agreements.domain import (
    BATTERY_MINERALS,
    CRITICAL_MINERALS,
    FTA_PARTNERS,
    JAPAN_MINERALS,
    domain_ruleset,
)

pytestmark = pytest.mark.django_db
D = dt.date.fromisoformat


def test_the_statutes_fifty_critical_minerals():
    assert len(CRITICAL_MINERALS) == 50
    assert set(models.CriticalMineral.objects.values_list("slug", flat=True)) == CRITICAL_MINERALS
    relevant = models.CriticalMineral.objects.filter(battery_relevant=True)
    assert set(relevant.values_list("slug", flat=True)) == BATTERY_MINERALS
    assert models.CriticalMineral.objects.get(slug="lithium").name == "Lithium"


def test_twenty_fta_partners_and_japans_critical_minerals_agreement():
    ftas = models.TradeAgreement.objects.filter(kind="fta", slug__endswith="-fta")
    assert ftas.count() == 20
    assert sorted(code for agreement in ftas for code in agreement.partners) == sorted(FTA_PARTNERS)
    assert all(agreement.covers_all_minerals for agreement in ftas)
    assert set(ftas.values_list("slug", flat=True)) == {f"us-{code.lower()}-fta" for code in FTA_PARTNERS}
    # 20 FTAs, NAFTA for Canada and Mexico before USMCA, Japan's agreement.
    assert models.TradeAgreement.objects.count() == 23


@pytest.mark.parametrize(
    ("slug", "signed", "in_force", "source"),
    [
        (
            "us-au-fta",
            "2004-05-18",
            "2005-01-01",
            "https://ustr.gov/trade-agreements/free-trade-agreements/australian-fta",
        ),
        (
            "us-bh-fta",
            "2004-09-14",
            "2006-08-01",
            "https://ustr.gov/trade-agreements/free-trade-agreements/bahrain-fta",
        ),
        ("us-kr-fta", "2007-06-30", "2012-03-15", "https://ustr.gov/trade-agreements/free-trade-agreements/korus-fta"),
        (
            "us-ca-fta",
            "2018-11-30",
            "2020-07-01",
            "https://ustr.gov/trade-agreements/free-trade-agreements/united-states-mexico-canada-agreement",
        ),
        (
            "us-cr-fta",
            "2004-05-28",
            "2009-01-01",
            "https://ustr.gov/trade-agreements/free-trade-agreements/cafta-dr-dominican-republic-central-america-fta",
        ),
    ],
)
def test_an_fta_counts_from_its_own_entry_into_force_with_its_ustr_source(slug, signed, in_force, source):
    """IRC §30D(e)(1)(A)(i) asks whether an FTA is "in effect": 2023-04-18 starts
    the requirements, not the agreements (USTR's agreement pages)."""
    agreement = models.TradeAgreement.objects.get(slug=slug)
    assert (agreement.signed, agreement.entered_into_force, agreement.counts_from) == (
        D(signed),
        D(in_force),
        D(in_force),
    )
    assert agreement.source == source
    assert agreement.history.latest().history_change_reason == (
        "Entry-into-force dates and credit periods (migration agreements 0004)"
    )


def test_every_fta_counts_from_its_entry_into_force():
    for agreement in models.TradeAgreement.objects.filter(kind="fta"):
        assert agreement.counts_from == agreement.entered_into_force, agreement.slug
        assert agreement.source.startswith("https://ustr.gov/trade-agreements/free-trade-agreements/")


def test_nafta_counts_for_canada_and_mexico_until_usmca():
    for code in ("ca", "mx"):
        nafta = models.TradeAgreement.objects.get(slug=f"us-{code}-nafta")
        assert (nafta.entered_into_force, nafta.ends) == (D("1994-01-01"), D("2020-06-30"))
        usmca = models.TradeAgreement.objects.get(slug=f"us-{code}-fta")
        assert usmca.counts_from == nafta.ends + dt.timedelta(days=1)


def test_japan_agreement_facts():
    japan = models.TradeAgreement.objects.get(slug="us-japan-cma")
    assert (japan.kind, japan.signed, japan.entered_into_force, japan.counts_from, japan.ends) == (
        "cma",
        D("2023-03-28"),
        D("2023-03-28"),
        D("2023-03-28"),
        None,
    )
    assert sorted(str(code) for code in japan.parties) == ["JP", "US"]
    assert set(japan.covered_minerals) == JAPAN_MINERALS
    assert japan.covers_all_minerals is False
    assert japan.review_cadence_months == 24
    assert japan.unconfirmed is True
    assert "UNCONFIRMED: the review cadence" in japan.notes
    assert japan.source.startswith("https://ustr.gov/")


def test_every_rule_row_has_a_source():
    for model in (
        models.CriticalMineral,
        models.TradeAgreement,
        models.ApplicablePercentage,
        models.CreditParameters,
        models.FeocRule,
    ):
        assert model.objects.exists()
        assert not model.objects.filter(source="").exists(), model.__name__
        assert all(row.source.startswith("https://") for row in model.objects.all())
    credit = models.CreditParameters.objects.get()
    assert credit.cutoff_source.startswith("https://www.nhada.com/")


def test_every_loaded_row_has_its_first_history_record():
    for model in (models.CriticalMineral, models.TradeAgreement, models.ApplicablePercentage):
        assert model.history.filter(history_type="+").count() == model.objects.count()
    record = models.TradeAgreement.history.get(slug="us-japan-cma")
    assert record.history_change_reason == "Loaded from DOMAIN.md (migration agreements 0002)"


def test_credit_and_feoc_rows():
    credit = models.CreditParameters.objects.get()
    assert (credit.critical_minerals_usd, credit.battery_components_usd) == (
        Decimal("3750"),
        Decimal("3750"),
    )
    assert (credit.requirements_from, credit.acquired_through) == (D("2023-04-18"), D("2025-09-30"))
    assert sorted(str(code) for code in credit.north_america) == ["CA", "MX", "US"]
    feoc = models.FeocRule.objects.get()
    assert sorted(str(code) for code in feoc.covered_nations) == ["CN", "IR", "KP", "RU"]
    assert (feoc.components_from, feoc.minerals_from, feoc.impracticable_until) == (
        D("2024-01-01"),
        D("2025-01-01"),
        D("2026-12-31"),
    )


def test_database_rules_equal_the_pure_test_rules():
    """The pure tests' RuleSet and the migrated data say the same thing."""
    loaded = load_ruleset()
    expected = domain_ruleset()

    def essentials(agreement: rules.AgreementRule):
        return replace(agreement, title="", source="", notes="", signed=None)

    assert [essentials(item) for item in loaded.agreements] == [essentials(item) for item in expected.agreements]
    assert [replace(row, source="") for row in loaded.percentages] == list(expected.percentages)
    assert replace(loaded.credit, source="", cutoff_source="", regulations_source="", citations=rules.CITATIONS) == (
        expected.credit
    )
    assert dict(loaded.credit.citations) == dict(rules.CITATIONS)
    assert loaded.credit.regulations_source.startswith(
        "https://www.federalregister.gov/documents/2024/05/06/2024-09094/"
    )
    assert replace(loaded.feoc, source="") == expected.feoc
    assert (loaded.minerals, loaded.battery_minerals, loaded.designations) == (
        expected.minerals,
        expected.battery_minerals,
        (),
    )


def test_auditor_question_which_agreement_made_a_japanese_refinery_count():
    """From a function call: the agreement, and according to which source."""
    current = current_ruleset()
    [ref] = rules.qualifying_agreements(current, "JP", "nickel", D("2024-06-01"))
    assert ref.slug == "us-japan-cma"
    assert ref.source == (
        "https://ustr.gov/about-us/policy-offices/press-office/press-releases/2023/march/"
        "united-states-and-japan-sign-critical-minerals-agreement"
    )
    assert rules.required_percentages(current, D("2024-06-01")) == (Decimal("50"), Decimal("60"))
    assert rules.credit_available(current, D("2025-10-01")) is False
    assert rules.is_feoc(current, "any-org", "AU", "CN", D("2025-01-01"), "minerals") is True
    assert rules.country_qualifies(current, "US", "lithium", D("2024-06-01")).reason == "domestic"


def test_the_credits_periods_and_component_list_are_loaded_with_their_source():
    """T.D. 9995: the 50% value-added test through 2026-12-31; the components
    the regulations list (no pack); IRA: the amended credit from 2023-01-01."""
    credit = models.CreditParameters.objects.get()
    assert (credit.credit_from, credit.value_added_test_through) == (D("2023-01-01"), D("2026-12-31"))
    assert "battery_pack" not in credit.battery_components
    assert set(credit.battery_components) == rules.REGULATION_COMPONENTS
    assert credit.regulations_source.startswith("https://www.federalregister.gov/")
    later = models.ApplicablePercentage.objects.filter(placed_in_service_from__gte=D("2027-01-01"))
    assert later.count() == 3
    assert all("traced qualifying value test" in row.notes for row in later)
