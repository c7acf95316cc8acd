"""The pure rules (cairn_core.regimes.s30d.rules), on RuleSets built in Python: no database."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from cairn_core.regimes.s30d import rules
from cairn_core.regimes.s30d.rules import AgreementEventRule
from tests.agreements.domain import JAPAN, D, domain_ruleset, fta, with_agreement

RULES = domain_ruleset()


def slugs(refs):
    return [ref.slug for ref in refs]


# --- which agreement makes a country count ----------------------------------


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        ("2023-03-27", []),
        ("2023-03-28", ["us-japan-cma"]),
        ("2023-04-17", ["us-japan-cma"]),
        ("2023-04-18", ["us-japan-cma"]),
        ("2024-06-01", ["us-japan-cma"]),
        ("2030-01-01", ["us-japan-cma"]),
    ],
)
def test_japan_counts_for_lithium_from_signature(on, expected):
    # The agreement counts from 2023-03-28; the minerals requirement itself
    # applies to vehicles placed in service from 2023-04-18 (see below).
    assert slugs(rules.qualifying_agreements(RULES, "JP", "lithium", D(on))) == expected


def test_japan_answer_names_the_agreement_and_its_source():
    [ref] = rules.qualifying_agreements(RULES, "JP", "lithium", D("2024-06-01"))
    assert ref == rules.AgreementRef(
        slug="us-japan-cma",
        title="US–Japan Critical Minerals Agreement",
        kind="cma",
        source="https://ustr.gov/",
    )


@pytest.mark.parametrize("mineral", ["cobalt", "graphite", "lithium", "manganese", "nickel"])
def test_japan_covers_its_five_minerals(mineral):
    assert slugs(rules.qualifying_agreements(RULES, "JP", mineral, D("2024-06-01"))) == ["us-japan-cma"]


@pytest.mark.parametrize("mineral", ["aluminum", "zinc", "neodymium"])
def test_japan_does_not_cover_other_minerals(mineral):
    assert rules.qualifying_agreements(RULES, "JP", mineral, D("2024-06-01")) == []
    assert rules.country_qualifies(RULES, "JP", mineral, D("2024-06-01")) == rules.Qualification(
        qualifies=False, reason="none"
    )


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        ("2004-12-31", []),
        ("2005-01-01", ["us-au-fta"]),
        ("2023-04-01", ["us-au-fta"]),
        ("2023-04-18", ["us-au-fta"]),
        ("2025-10-01", ["us-au-fta"]),
    ],
)
@pytest.mark.parametrize("mineral", ["lithium", "aluminum", "zirconium"])
def test_fta_partner_counts_for_every_mineral_from_its_entry_into_force(mineral, on, expected):
    """IRC §30D(e)(1)(A)(i) asks whether an FTA is "in effect": the US-Australia
    FTA is from 2005-01-01 (USTR). Formerly from 2023-04-18, which made
    Australian ore mined 2023-04-01 non-qualifying while Japanese ore counted."""
    assert slugs(rules.qualifying_agreements(RULES, "AU", mineral, D(on))) == expected


@pytest.mark.parametrize("code", ["CA", "MX", "CL", "KR", "SG", "SV"])
def test_each_fta_partner_has_its_own_agreement(code):
    refs = rules.qualifying_agreements(RULES, code, "nickel", D("2024-01-01"))
    assert slugs(refs) == [f"us-{code.lower()}-fta"]


def test_country_codes_are_case_insensitive():
    assert slugs(rules.qualifying_agreements(RULES, "jp", "cobalt", D("2024-06-01"))) == ["us-japan-cma"]


def test_the_united_states_counts_without_an_agreement():
    assert rules.qualifying_agreements(RULES, "US", "lithium", D("2020-01-01")) == []
    assert rules.country_qualifies(RULES, "US", "lithium", D("2020-01-01")) == rules.Qualification(
        qualifies=True, reason="domestic"
    )


@pytest.mark.parametrize("code", ["CN", "ID", "AR", "CD", "DE"])
def test_countries_without_agreement_do_not_count(code):
    answer = rules.country_qualifies(RULES, code, "lithium", D("2024-06-01"))
    assert not answer
    assert (answer.reason, answer.agreements) == ("none", ())


def test_country_qualifies_by_agreement_lists_the_agreements():
    answer = rules.country_qualifies(RULES, "JP", "nickel", D("2024-06-01"))
    assert bool(answer) is True
    assert answer.reason == "agreement"
    assert slugs(answer.agreements) == ["us-japan-cma"]


# --- amended, suspended, terminated and ended agreements ----------------------


def japan_with(*events):
    return with_agreement(RULES, replace(JAPAN, events=events))


def test_amendment_adds_a_mineral_from_its_date():
    ruleset = japan_with(AgreementEventRule("amendment", D("2024-07-01"), minerals_added=frozenset({"aluminum"})))
    assert rules.qualifying_agreements(ruleset, "JP", "aluminum", D("2024-06-30")) == []
    assert slugs(rules.qualifying_agreements(ruleset, "JP", "aluminum", D("2024-07-01"))) == ["us-japan-cma"]


def test_amendment_removes_a_mineral_from_its_date():
    ruleset = japan_with(AgreementEventRule("amendment", D("2025-01-01"), minerals_removed=frozenset({"graphite"})))
    assert slugs(rules.qualifying_agreements(ruleset, "JP", "graphite", D("2024-12-31"))) == ["us-japan-cma"]
    assert rules.qualifying_agreements(ruleset, "JP", "graphite", D("2025-01-01")) == []
    assert slugs(rules.qualifying_agreements(ruleset, "JP", "lithium", D("2025-01-01"))) == ["us-japan-cma"]


def test_amendments_apply_in_date_order():
    ruleset = japan_with(
        AgreementEventRule("amendment", D("2025-06-01"), minerals_added=frozenset({"graphite"})),
        AgreementEventRule("amendment", D("2025-01-01"), minerals_removed=frozenset({"graphite"})),
    )
    answers = [
        bool(rules.qualifying_agreements(ruleset, "JP", "graphite", D(day)))
        for day in ("2024-12-31", "2025-01-01", "2025-05-31", "2025-06-01")
    ]
    assert answers == [True, False, False, True]


def test_amendment_can_narrow_a_comprehensive_fta():
    amended = replace(
        fta("AU"),
        events=(AgreementEventRule("amendment", D("2024-01-01"), minerals_removed=frozenset({"zinc"})),),
    )
    ruleset = with_agreement(RULES, amended)
    assert slugs(rules.qualifying_agreements(ruleset, "AU", "zinc", D("2023-12-31"))) == ["us-au-fta"]
    assert rules.qualifying_agreements(ruleset, "AU", "zinc", D("2024-01-01")) == []
    assert slugs(rules.qualifying_agreements(ruleset, "AU", "lithium", D("2024-01-01"))) == ["us-au-fta"]


@pytest.mark.parametrize(
    ("on", "counts"),
    [("2024-02-29", True), ("2024-03-01", False), ("2024-03-31", False), ("2024-04-01", True)],
)
def test_suspension_stops_the_agreement_between_its_dates_inclusive(on, counts):
    ruleset = japan_with(AgreementEventRule("suspension", D("2024-03-01"), D("2024-03-31")))
    assert bool(rules.qualifying_agreements(ruleset, "JP", "lithium", D(on))) is counts


def test_open_ended_suspension_lasts():
    ruleset = japan_with(AgreementEventRule("suspension", D("2024-03-01")))
    assert rules.qualifying_agreements(ruleset, "JP", "lithium", D("2031-01-01")) == []


@pytest.mark.parametrize(("on", "counts"), [("2025-09-30", True), ("2025-10-01", False), ("2026-01-01", False)])
def test_termination_takes_effect_on_its_date(on, counts):
    ruleset = japan_with(AgreementEventRule("termination", D("2025-10-01")))
    assert bool(rules.qualifying_agreements(ruleset, "JP", "lithium", D(on))) is counts


@pytest.mark.parametrize(("on", "counts"), [("2025-06-30", True), ("2025-07-01", False)])
def test_agreement_end_date_is_its_last_day(on, counts):
    ruleset = with_agreement(RULES, replace(fta("KR"), ends=D("2025-06-30")))
    assert bool(rules.qualifying_agreements(ruleset, "KR", "nickel", D(on))) is counts


def test_with_termination_derives_a_ruleset_and_leaves_the_original():
    ended = RULES.with_termination("us-japan-cma", D("2024-06-01"))
    assert ended.version == "test+terminate:us-japan-cma@2024-06-01"
    assert slugs(rules.qualifying_agreements(ended, "JP", "lithium", D("2024-05-31"))) == ["us-japan-cma"]
    assert rules.qualifying_agreements(ended, "JP", "lithium", D("2024-06-01")) == []
    assert slugs(rules.qualifying_agreements(RULES, "JP", "lithium", D("2024-06-01"))) == ["us-japan-cma"]
    assert slugs(rules.qualifying_agreements(ended, "AU", "lithium", D("2024-06-01"))) == ["us-au-fta"]


def test_with_termination_of_an_unknown_agreement_is_an_error():
    with pytest.raises(KeyError):
        RULES.with_termination("us-uk-fta", D("2024-06-01"))


def test_two_agreements_for_one_country_are_both_cited():
    second = replace(JAPAN, slug="us-japan-fta", kind="fta", covers_all=True, counts_from=D("2024-01-01"))
    ruleset = with_agreement(RULES, second)
    assert slugs(rules.qualifying_agreements(ruleset, "JP", "lithium", D("2023-12-31"))) == ["us-japan-cma"]
    assert sorted(slugs(rules.qualifying_agreements(ruleset, "JP", "lithium", D("2024-01-01")))) == [
        "us-japan-cma",
        "us-japan-fta",
    ]
    terminated = ruleset.with_termination("us-japan-cma", D("2024-06-01"))
    assert slugs(rules.qualifying_agreements(terminated, "JP", "lithium", D("2024-06-01"))) == ["us-japan-fta"]


def test_only_the_partners_of_a_changed_agreement_are_relinked():
    """A rule change relinks the entries of the countries it can move, no others."""
    assert rules.countries_relinked_by(RULES, RULES) == frozenset()
    notes_only = with_agreement(RULES, replace(JAPAN, notes="reviewed", title="CMA, renamed", source="https://x"))
    assert rules.countries_relinked_by(RULES, notes_only) == frozenset()
    ended = with_agreement(RULES, replace(JAPAN, ends=D("2025-12-31")))
    assert rules.countries_relinked_by(RULES, ended) == {"JP"}
    amended = RULES.with_termination("us-japan-cma", D("2026-01-01"))
    assert rules.countries_relinked_by(RULES, amended) == {"JP"}
    # Added or removed agreements: their partners, before and after.
    added = with_agreement(RULES, replace(fta("KR"), slug="us-indonesia-cma", parties=frozenset({"US", "ID"})))
    assert rules.countries_relinked_by(RULES, added) == {"ID"}
    assert rules.countries_relinked_by(added, RULES) == {"ID"}
    moved = with_agreement(RULES, replace(JAPAN, parties=frozenset({"US", "KR"})))
    assert rules.countries_relinked_by(RULES, moved) == {"JP", "KR"}


# --- percentages, credit ------------------------------------------------------


@pytest.mark.parametrize(
    ("placed_in_service", "expected"),
    [
        ("2023-01-01", None),
        ("2023-04-17", None),
        ("2023-04-18", ("40", "50")),
        ("2023-12-31", ("40", "50")),
        ("2024-01-01", ("50", "60")),
        ("2024-12-31", ("50", "60")),
        ("2025-01-01", ("60", "60")),
        ("2025-09-30", ("60", "60")),
        ("2025-10-01", ("60", "60")),
        ("2025-12-31", ("60", "60")),
        ("2026-01-01", ("70", "70")),
        ("2026-12-31", ("70", "70")),
        ("2027-01-01", ("80", "80")),
        ("2028-01-01", ("80", "90")),
        ("2028-12-31", ("80", "90")),
        ("2029-01-01", ("80", "100")),
        ("2032-12-31", ("80", "100")),
        ("2033-01-01", None),
    ],
)
def test_required_percentages_by_placed_in_service_date(placed_in_service, expected):
    answer = rules.required_percentages(RULES, D(placed_in_service))
    if expected is None:
        assert answer is None
    else:
        assert answer == (Decimal(expected[0]), Decimal(expected[1]))
        assert all(isinstance(value, Decimal) for value in answer)


@pytest.mark.parametrize(
    ("acquired", "available"),
    [
        ("2023-04-18", True),
        ("2025-09-29", True),
        ("2025-09-30", True),
        ("2025-10-01", False),
        ("2026-06-01", False),
    ],
)
def test_credit_ends_for_vehicles_acquired_after_2025_09_30(acquired, available):
    assert rules.credit_available(RULES, D(acquired)) is available


def test_credit_without_an_end_date_stays_available():
    ruleset = replace(RULES, credit=replace(RULES.credit, acquired_through=None))
    assert rules.credit_available(ruleset, D("2040-01-01")) is True


def test_credit_amounts():
    amounts = rules.credit_amounts(RULES)
    assert (amounts.critical_minerals, amounts.battery_components, amounts.both) == (
        Decimal("3750"),
        Decimal("3750"),
        Decimal("7500"),
    )


@pytest.mark.parametrize(
    ("country", "expected"),
    [("US", True), ("CA", True), ("mx", True), ("JP", False), ("KR", False)],
)
def test_north_america(country, expected):
    assert rules.is_north_america(RULES, country) is expected


# --- FEOC ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "placed_in_service", "applies"),
    [
        ("components", "2023-12-31", False),
        ("components", "2024-01-01", True),
        ("minerals", "2024-01-01", False),
        ("minerals", "2024-12-31", False),
        ("minerals", "2025-01-01", True),
        ("components", "2025-10-01", True),
    ],
)
def test_feoc_restrictions_apply_after_their_dates(kind, placed_in_service, applies):
    assert rules.feoc_applies(RULES, kind, D(placed_in_service)) is applies


def test_feoc_kind_must_be_known():
    with pytest.raises(ValueError, match="kind must be one of components, minerals"):
        rules.feoc_applies(RULES, "cells", D("2025-01-01"))
    with pytest.raises(ValueError):
        rules.is_feoc(RULES, "x", "AU", "AU", D("2025-01-01"), "cells")


@pytest.mark.parametrize(
    ("org_country", "activity_country", "reasons"),
    [
        ("AU", "AU", []),
        ("AU", "CN", ["activity in covered nation CN"]),
        ("CN", "ID", ["incorporated in covered nation CN"]),
        ("RU", "KP", ["activity in covered nation KP", "incorporated in covered nation RU"]),
        ("ir", "US", ["incorporated in covered nation IR"]),
    ],
)
def test_feoc_by_jurisdiction(org_country, activity_country, reasons):
    on = D("2025-03-01")
    assert rules.feoc_reasons(RULES, "acme", org_country, activity_country, on, "minerals") == reasons
    assert rules.is_feoc(RULES, "acme", org_country, activity_country, on, "minerals") is bool(reasons)


DESIGNATED = replace(
    RULES,
    designations=(rules.Designation("sino-stake", "control_25pct", "CN", D("2024-05-01"), D("2024-12-31")),),
)


@pytest.mark.parametrize(
    ("on", "feoc"),
    [("2024-04-30", False), ("2024-05-01", True), ("2024-12-31", True), ("2025-01-01", False)],
)
def test_feoc_designation_is_judged_on_the_activity_date(on, feoc):
    assert rules.is_feoc(DESIGNATED, "sino-stake", "ID", "ID", D(on), "components") is feoc


def test_feoc_designation_reason_and_scope():
    assert rules.feoc_reasons(DESIGNATED, "sino-stake", "ID", "ID", D("2024-06-01"), "minerals") == [
        "designated (control_25pct, CN) from 2024-05-01"
    ]
    assert rules.is_feoc(DESIGNATED, "other-org", "ID", "ID", D("2024-06-01"), "minerals") is False


@pytest.mark.parametrize(
    ("placed_in_service", "elected", "allowed"),
    [("2026-12-31", True, True), ("2027-01-01", True, False), ("2025-06-01", False, False)],
)
def test_impracticable_to_trace_transition(placed_in_service, elected, allowed):
    assert rules.may_exclude_from_tracing(RULES, D(placed_in_service), elected=elected) is allowed


# --- reviews and versions -----------------------------------------------------


@pytest.mark.parametrize(
    ("next_review", "cadence", "start", "expected"),
    [
        (None, 24, "2023-03-28", "2025-03-28"),
        ("2026-01-15", 24, "2023-03-28", "2026-01-15"),
        (None, 1, "2024-01-31", "2024-02-29"),
        (None, None, "2023-03-28", None),
        (None, 24, None, None),
    ],
)
def test_next_review_date(next_review, cadence, start, expected):
    answer = rules.next_review_date(next_review and D(next_review), cadence, start and D(start))
    assert answer == (expected and D(expected))


def test_fingerprint_is_stable_and_sensitive():
    assert rules.fingerprint([1, 2]) == rules.fingerprint([1, 2])
    assert rules.fingerprint([1, 2]) != rules.fingerprint([1, 3])
    assert rules.fingerprint([1, 2]).startswith("rules-")
    assert len(rules.fingerprint([1, 2])) == len("rules-") + 16


def test_ruleset_is_immutable():
    with pytest.raises(AttributeError):
        RULES.version = "changed"  # type: ignore[misc]
    assert isinstance(RULES.agreement("us-japan-cma").counts_from, dt.date)
