"""The sentence that explains a verdict's amount (audit.verdict_text): pure, no database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.verdict_text import dollars, explain
from cairn_core.regimes.s30d.rules import CreditAmounts

AMOUNTS = CreditAmounts(critical_minerals=Decimal(3750), battery_components=Decimal(3750))


def verdict(
    credit="7500",
    integrity="intact",
    minerals=("met", "62.10", "50"),
    components=("met", "70.00", "60"),
    feoc="met",
    assembly="met",
    in_force="met",
    problems=(),
):
    def requirement(status):
        return {"status": status, "citation": "", "reason": ""}

    return {
        "credit_usd": credit,
        "integrity": integrity,
        "problems": list(problems),
        "requirements": {
            "critical_minerals": {
                "met": minerals[0] == "met",
                "qualifying_pct": minerals[1],
                "required_pct": minerals[2],
            },
            "battery_components": {
                "met": components[0] == "met",
                "north_america_pct": components[1],
                "required_pct": components[2],
            },
            "foreign_entity_of_concern": {"met": feoc != "not_met"},
            "final_assembly": {"met": assembly == "met"},
            "credit_in_force": {"met": in_force == "met"},
        },
        "applied": {
            "final_assembly_country": "MX" if assembly == "met" else "KR",
            "requirements": {
                "critical_minerals": requirement(minerals[0]),
                "battery_components": requirement(components[0]),
                "foreign_entity_of_concern": requirement(feoc),
                "final_assembly": requirement(assembly),
                "credit_in_force": requirement(in_force),
            },
        },
    }


def test_half_the_credit_names_what_earned_it_and_what_fell_short():
    text = explain(verdict(credit="3750", components=("not_met", "24.95", "60")), AMOUNTS)
    assert text == "$3,750: critical minerals met (+$3,750); battery components 24.95%, below 60% (+$0)"


def test_the_full_credit_names_both_requirements():
    assert explain(verdict(), AMOUNTS) == "$7,500: critical minerals met (+$3,750); battery components met (+$3,750)"


def test_a_foreign_entity_of_concern_zeroes_the_amount_whatever_the_content():
    assert explain(verdict(credit="0", feoc="not_met"), AMOUNTS) == (
        "$0: a foreign entity of concern disqualifies the vehicle"
    )


def test_broken_integrity_comes_before_every_other_reason():
    text = explain(verdict(credit="0", integrity="broken", feoc="not_met", problems=[{}, {}]), AMOUNTS)
    assert text == "$0: the ledger's integrity is broken for this claim (2 problems)"


def test_assembly_outside_north_america_and_a_credit_not_in_force():
    assert explain(verdict(credit="0", assembly="not_met"), AMOUNTS) == (
        "$0: final assembly outside North America (KR) disqualifies the vehicle"
    )
    assert explain(verdict(credit="0", in_force="not_met"), AMOUNTS) == (
        "$0: the credit is not in force for this vehicle's dates"
    )


def test_requirements_not_applicable_or_not_assessed_say_so():
    text = explain(
        verdict(credit="3750", minerals=("not_assessed", "80.00", "60"), components=("not_applicable", "0", None)),
        AMOUNTS,
    )
    assert text == (
        "$3,750: critical minerals not assessed: the 50% value-added test no longer applies (+$0); "
        "battery components not required on the placed-in-service date (+$3,750)"
    )


def test_a_verdict_stored_before_v1_1_is_read_from_its_requirements_alone():
    old = verdict(credit="0", minerals=("not_met", "40.00", "50"), components=("not_met", "10.00", "60"))
    del old["applied"]
    assert explain(old, AMOUNTS) == (
        "$0: critical minerals 40.00%, below 50% (+$0); battery components 10.00%, below 60% (+$0)"
    )


@pytest.mark.parametrize(("amount", "shown"), [("7500", "$7,500"), ("0", "$0"), ("1875.50", "$1,875.50")])
def test_dollars(amount, shown):
    assert dollars(amount) == shown
