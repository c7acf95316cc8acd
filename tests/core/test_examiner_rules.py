"""The credit's rules as an examiner reads them: each test names the rule and its source.

Sources: IRC §30D (26 USC 30D); T.D. 9995, 89 FR 37706 (2024-05-06), the
final regulations at 26 CFR §1.30D-1 to -6; Public Law 119-21 §70502; the
USTR agreement pages for entry-into-force dates. docs/examiners.md,
"Decisions, with their reasons", gives each decision with its reasons. Everything here runs the
verdict's own computation (cairn_core.regimes.s30d.verdict) on plain payloads.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from cairn_core.regimes.s30d import lineage, rules
from cairn_core.regimes.s30d.lineage import Share
from tests.agreements.domain import D, domain_ruleset
from tests.core.statements import Statements, simple_claim

RULES = domain_ruleset()


def body(chain: Statements, index: int, ruleset: rules.RuleSet = RULES) -> dict:
    return chain.verdict(index, ruleset).as_dict()


def codes(verdict: dict) -> list[str]:
    return [problem["code"] for problem in verdict["problems"]]


def status(verdict: dict, code: str) -> str:
    return verdict["applied"]["requirements"][code]["status"]


# --- Wrong 1: agreements count from their entry into force -------------------------


@pytest.mark.parametrize("mine", ["AU", "JP"])
def test_ore_mined_2023_04_01_counts_in_australia_as_in_japan(mine):
    """IRC §30D(e)(1)(A)(i): extracted "in any country with which the United
    States has a free trade agreement in effect". The US-Australia FTA is in
    effect from 2005-01-01 (USTR), Japan's agreement from 2023-03-28 (USTR):
    both count for ore mined on 2023-04-01. Formerly AU gave 0% and $3,750."""
    chain, claim = simple_claim(mine=mine, mined="2023-04-01", refinery="US", placed_in_service="2023-06-01")
    verdict = body(chain, claim)
    assert verdict["requirements"]["critical_minerals"] == {
        "met": True,
        "qualifying_pct": "100.00",
        "required_pct": "40",
    }
    assert verdict["credit_usd"] == "7500"
    assert verdict["agreements"] == ["us-au-fta" if mine == "AU" else "us-japan-cma"]


@pytest.mark.parametrize(("mined", "agreement"), [("2019-05-01", "us-ca-nafta"), ("2020-07-01", "us-ca-fta")])
def test_canadian_ore_relies_on_the_agreement_in_effect_when_mined(mined, agreement):
    """NAFTA (in force 1994-01-01, superseded 2020-07-01) then USMCA (from
    2020-07-01), USTR: the agreement relied on is the one in effect on the
    activity's date."""
    chain, claim = simple_claim(mine="CA", mined=mined, refinery="US", placed_in_service="2024-06-15")
    verdict = body(chain, claim)
    assert verdict["requirements"]["critical_minerals"]["met"] is True
    assert verdict["agreements"] == [agreement]


def test_ore_mined_before_an_fta_entered_into_force_does_not_qualify():
    """The US-Korea FTA is in force from 2012-03-15 (USTR): ore mined in
    Korea on 2012-03-14 and refined there counts for neither test."""
    chain, claim = simple_claim(mine="KR", mined="2012-03-14", refinery="KR")
    verdict = body(chain, claim)
    assert verdict["requirements"]["critical_minerals"]["qualifying_pct"] == "0.00"
    assert verdict["agreements"] == []


# --- Wrong 2: before 2023-04-18 the requirements do not apply -------------------------


def test_placed_in_service_before_2023_04_18_the_requirements_are_not_applicable():
    """IRA §13401(k)(3): the requirements of §30D(e) apply to vehicles placed
    in service after the proposed guidance (issued 2023-04-17). Before, the
    verdict says "not applicable", never "unmet": met, no required %, and the
    two $3,750 amounts are not withheld (formerly $0)."""
    chain, claim = simple_claim(
        mine="ID", refinery="ID", cells="KR", acquired="2023-02-01", placed_in_service="2023-04-17"
    )
    verdict = body(chain, claim)
    for code in ("critical_minerals", "battery_components"):
        assert verdict["requirements"][code]["met"] is True
        assert verdict["requirements"][code]["required_pct"] is None
        assert status(verdict, code) == "not_applicable"
        assert verdict["applied"]["requirements"][code]["reason"] == (
            "not applicable: outside the requirements' period (placed in service 2023-04-17, before 2023-04-18)"
        )
    assert verdict["requirements"]["critical_minerals"]["qualifying_pct"] == "0.00"  # the figure, for reference
    assert verdict["problems"] == []
    assert verdict["credit_usd"] == "7500"


def test_from_2023_04_18_the_requirements_apply():
    chain, claim = simple_claim(mine="ID", refinery="ID", acquired="2023-02-01", placed_in_service="2023-04-18")
    verdict = body(chain, claim)
    assert status(verdict, "critical_minerals") == "not_met"
    assert verdict["requirements"]["critical_minerals"]["required_pct"] == "40"
    assert verdict["credit_usd"] == "3750"


def test_placed_in_service_before_2023_is_outside_the_credit_cairn_computes():
    """The $3,750 + $3,750 structure of §30D(b) applies to vehicles placed in
    service after 2022-12-31 (IRA §13401(k)(1)); the earlier credit depended
    on battery capacity, which no statement carries: refused with a problem."""
    chain, claim = simple_claim(acquired="2022-11-01", placed_in_service="2022-12-15")
    verdict = body(chain, claim)
    assert verdict["requirements"]["credit_in_force"] == {"met": False}
    assert verdict["credit_usd"] == "0"
    [problem] = verdict["problems"]
    assert problem["code"] == "credit_in_force"
    assert "before 2023-01-01" in problem["message"] and "does not compute" in problem["message"]


# --- Wrong 3: the 50% value-added test ends with 2026 ------------------------------------


def test_from_2027_the_value_added_test_is_not_applied_and_the_requirement_is_not_assessed():
    """T.D. 9995 (26 CFR §1.30D-3): the 50% value-added test is a transition
    rule for vehicles placed in service before 2027-01-01; then the traced
    qualifying value test applies, which Cairn does not compute. A vehicle
    acquired by 2025-09-30 and delivered in 2027 still earns the credit under
    the rules of its delivery date (PL 119-21 §70502), so it is refused
    explicitly: not assessed, no $3,750 for minerals."""
    chain, claim = simple_claim(acquired="2025-09-01", placed_in_service="2027-02-01")
    verdict = body(chain, claim)
    assert verdict["requirements"]["critical_minerals"]["met"] is False
    assert verdict["requirements"]["critical_minerals"]["required_pct"] == "80"
    assert status(verdict, "critical_minerals") == "not_assessed"
    assert verdict["applied"]["method"]["critical_minerals"] == "traced_qualifying_value"
    assert verdict["applied"]["method"]["critical_minerals_computed"] is False
    [problem] = verdict["problems"]
    assert problem["code"] == "critical_minerals"
    assert problem["message"].startswith("not assessed:")
    assert "T.D. 9995 allows the 50% value-added test only through 2026-12-31" in problem["message"]
    assert verdict["requirements"]["battery_components"]["met"] is True
    assert verdict["credit_usd"] == "3750"


def test_through_2026_12_31_the_value_added_test_applies():
    chain, claim = simple_claim(acquired="2025-09-01", placed_in_service="2026-12-31")
    verdict = body(chain, claim)
    assert verdict["applied"]["method"]["critical_minerals"] == "value_added_50pct"
    assert status(verdict, "critical_minerals") == "met"
    assert verdict["credit_usd"] == "7500"


# --- Wrong 4: a shown figure is never rounded across the line ----------------------------


@pytest.mark.parametrize(
    ("part", "required", "shown"),
    [
        ("39.995", "40", "39.995"),  # half-up to 2 places would show 40.00
        ("39.9999999", "40", "39.9999999"),
        ("40", "40", "40.00"),
        ("40.001", "40", "40.00"),
        ("72.495", "50", "72.50"),  # far from the line: two places, half-up
        ("59.994", "60", "59.99"),
    ],
)
def test_a_shown_percentage_stays_on_the_side_of_the_result(part, required, shown):
    share = Share(Decimal(part), Decimal(100))
    assert lineage.pct_shown(share, Decimal(required)) == shown
    assert (Decimal(shown) >= Decimal(required)) == share.at_least(Decimal(required))


def test_39_995_percent_is_shown_below_the_required_40():
    """Qualifying 39.995%: not met, and the message must not read "40.00% is
    below the required 40%". Lithium AU (value 3999.5) and nickel ID (6000.5),
    refined in the US at no value, in 2023 (40% required)."""
    chain = Statements()
    au = chain.origin("AU", {"lithium": "10"}, value="3999.5")
    indonesia = chain.origin("ID", {"nickel": "10"}, value="6000.5")
    (material,) = chain.transform([(au, "1000"), (indonesia, "1000")], "ID", value="0")
    claim = chain.claim(chain.cells_and_pack(material), acquired="2023-09-01", placed_in_service="2023-09-12")
    verdict = body(chain, claim)
    assert verdict["requirements"]["critical_minerals"] == {
        "met": False,
        "qualifying_pct": "39.995",
        "required_pct": "40",
    }
    [problem] = [item for item in verdict["problems"] if item["code"] == "critical_minerals"]
    assert problem["message"] == "qualifying critical mineral content 39.995% is below the required 40%"


# --- Decided: what counts, and how -----------------------------------------------------


def test_the_battery_pack_is_not_a_battery_component():
    """26 CFR §1.30D-2(b) (T.D. 9995) lists the components, ending at the
    battery module; the pack is the battery, whose components §30D(e)(2)
    counts. Cells 5000 in KR, a module 1000 in the US, the pack 2000 in the
    US: 1000 / 6000 = 16.67% (28.57% + if the pack counted: 3000 / 8000)."""
    chain = Statements()
    ore = chain.origin("AU", {"lithium": "60"})
    (cells,) = chain.transform([(ore, "1000")], "KR", value="5000", activity="manufacturing", component="battery_cell")
    (module,) = chain.transform([(cells, "100")], "US", value="1000", activity="assembly", component="battery_module")
    (pack,) = chain.transform([(module, "100")], "US", value="2000", activity="assembly", component="battery_pack")
    verdict = chain.verdict(chain.claim(pack))
    assert verdict.as_dict()["requirements"]["battery_components"]["north_america_pct"] == "16.67"
    assert [(item.component, item.counts) for item in verdict.assessment.components] == [
        ("battery_cell", True),
        ("battery_module", True),
        ("battery_pack", False),
    ]
    assert verdict.as_dict()["applied"]["method"]["components_counted"] == sorted(rules.REGULATION_COMPONENTS)


def test_a_ruleset_without_a_component_list_counts_every_named_component():
    """A RuleSet built before the list existed keeps its old meaning."""
    legacy = replace(RULES, credit=replace(RULES.credit, battery_components=None))
    assert rules.counts_as_component(legacy, "battery_pack") is True
    assert rules.counts_as_component(RULES, "battery_pack") is False


@pytest.mark.parametrize(("mineral", "qualifies"), [("graphite", True), ("aluminum", False)])
def test_japan_counts_only_for_the_five_minerals_its_agreement_covers(mineral, qualifies):
    """The US-Japan agreement covers cobalt, graphite, lithium, manganese and
    nickel (USTR, 2023-03-28); Cairn does not extend it to other critical
    minerals (docs/examiners.md: a data choice an administrator can change)."""
    chain = Statements()
    ore = chain.origin("JP", {mineral: "10"})
    (material,) = chain.transform([(ore, "1000")], "JP")
    verdict = body(chain, chain.claim(chain.cells_and_pack(material)))
    assert verdict["requirements"]["critical_minerals"]["met"] is qualifies


def test_a_feoc_designation_is_judged_on_the_activitys_date_not_the_delivery():
    """26 CFR §1.30D-6 and contract §3 (FEOC status as of occurred_at): a
    refiner designated from 2025-03-01 did not refine as a FEOC on
    2025-02-01, though the vehicle was delivered on 2025-06-01."""
    designated = rules.Designation("kr-refinery", "control_25pct", "CN", D("2025-03-01"))
    ruleset = replace(RULES, designations=(designated,))
    for refined, credit in (("2025-02-01", "7500"), ("2025-03-01", "0")):
        chain = Statements()
        ore = chain.origin("AU", {"lithium": "60"})
        (material,) = chain.transform([(ore, "1000")], "KR", day=refined, issuer="kr-refinery")
        claim = chain.claim(chain.cells_and_pack(material), acquired="2025-05-01", placed_in_service="2025-06-01")
        assert body(chain, claim, ruleset)["credit_usd"] == credit


def test_a_what_if_termination_reaches_only_activities_from_its_date():
    """An agreement "in effect" is judged on each activity's date
    (IRC §30D(e)(1)(A)(i)): terminating the US-Australia FTA from 2024-06-01
    leaves ore mined on 2024-05-31 qualifying and disqualifies ore mined on
    2024-06-01, for the same delivery date."""
    ended = RULES.with_termination("us-au-fta", D("2024-06-01"))
    results = {}
    for mined in ("2024-05-31", "2024-06-01"):
        chain, claim = simple_claim(mine="AU", mined=mined, refinery="ID", placed_in_service="2024-09-01")
        results[mined] = body(chain, claim, ended)["requirements"]["critical_minerals"]["met"]
    assert results == {"2024-05-31": True, "2024-06-01": False}


def test_an_origins_value_is_shared_among_its_minerals_by_mass():
    """The payload carries kg per mineral, not value per mineral (contract §3:
    unknown fields are refused): a mixed origin's value is shared by mass.
    Nickel 30 kg and cobalt 10 kg, 4000 USD: 3000 and 1000."""
    chain = Statements()
    ore = chain.origin("ID", {"nickel": "30", "cobalt": "10"}, value="4000", quantity="100")
    verdict = chain.verdict(chain.claim(chain.cells_and_pack(ore)))
    values = {item.mineral: item.value_usd for item in verdict.assessment.lineages}
    assert values == {"nickel": Decimal(3000), "cobalt": Decimal(1000)}
    assert verdict.as_dict()["applied"]["method"]["mineral_value"] == "origin_value_by_mineral_mass"


def test_a_zero_value_extraction_cannot_pass_the_extraction_test_and_is_reported():
    """With no extraction value, "50% of the value added by extraction" has
    nothing to compare: the lineage qualifies by processing or not at all,
    and the $0 declaration is listed as a problem (it changes no figure)."""
    chain = Statements()
    ore = chain.origin("AU", {"lithium": "60"}, value="0")
    (material,) = chain.transform([(ore, "1000")], "ID", value="900")
    verdict = body(chain, chain.claim(chain.cells_and_pack(material)))
    assert verdict["requirements"]["critical_minerals"]["met"] is False
    [problem] = [item for item in verdict["problems"] if item["code"] == "value_added"]
    assert problem["index"] == 0 and "declares no extraction value" in problem["message"]


@pytest.mark.parametrize(
    ("recycled_in", "processed_in", "met"),
    [("CA", "KR", True), ("KR", "US", True), ("ID", "ID", False)],
)
def test_recycled_material_is_a_lineage_through_its_processing(recycled_in, processed_in, met):
    """§30D(e)(1)(A)(ii): recycled in North America qualifies. A recycled
    origin elsewhere is still a lineage: its later processing can qualify it
    by the 50% processing test (T.D. 9995)."""
    chain = Statements()
    scrap = chain.origin(recycled_in, {"nickel": "20"}, activity="recycling")
    (material,) = chain.transform([(scrap, "1000")], processed_in)
    verdict = body(chain, chain.claim(chain.cells_and_pack(material)))
    assert verdict["requirements"]["critical_minerals"]["met"] is met


def test_a_recycler_in_a_covered_nation_is_a_feoc_from_2025():
    """§30D(d)(7): no critical mineral recycled by a FEOC, vehicles placed in service after 2024-12-31."""
    chain = Statements()
    scrap = chain.origin("CN", {"nickel": "20"}, activity="recycling")
    (material,) = chain.transform([(scrap, "1000")], "US")
    verdict = body(
        chain, chain.claim(chain.cells_and_pack(material), acquired="2025-01-10", placed_in_service="2025-02-01")
    )
    assert verdict["requirements"]["foreign_entity_of_concern"] == {"met": False}
    assert verdict["credit_usd"] == "0"


@pytest.mark.parametrize("territory", ["PR", "GU"])
def test_final_assembly_in_a_us_territory_is_not_north_america_by_default(territory):
    """§30D(d)(1)(G): final assembly "within North America"; the rule data's
    North America is US, CA, MX. Territories are refused with a problem that
    says why, so an examiner can decide (docs/examiners.md)."""
    chain, claim = simple_claim(country=territory)
    verdict = body(chain, claim)
    assert verdict["requirements"]["final_assembly"] == {"met": False}
    [problem] = verdict["problems"]
    assert problem["message"].startswith(f"final assembly in {territory}, a US territory")


def test_a_split_declaring_value_is_a_problem_and_its_value_does_not_count():
    """A split moves material (contract §3); value declared on it is neither
    mineral value nor component value: reported, not counted."""
    chain = Statements()
    ore = chain.origin("AU", {"lithium": "60"})
    half, _rest = chain.transform(
        [(ore, "1000")],
        "AU",
        activity="split",
        outputs=[{"quantity": "500", "value_added_usd": "250"}, {"quantity": "500", "value_added_usd": "250"}],
    )
    verdict = chain.verdict(chain.claim(chain.cells_and_pack(half)))
    [problem] = [item for item in verdict.as_dict()["problems"] if item["code"] == "value_added"]
    assert problem["index"] == 1
    assert "declares 250 USD of value added: a split moves material" in problem["message"]
    # The cells take 100 of the 500 kg half: a tenth of the ore's 1000 USD, nothing from the split.
    assert verdict.assessment.minerals.whole == Decimal(100)


def test_placed_in_service_before_acquired_is_a_problem():
    """Acquired = binding contract and payment (PL 119-21 §70502, IRS); a
    delivery before it means one of the signed dates is wrong."""
    chain, claim = simple_claim(acquired="2024-07-01", placed_in_service="2024-06-15")
    verdict = body(chain, claim)
    [problem] = verdict["problems"]
    assert problem["code"] == "claim_dates"
    assert problem["message"].startswith(
        "placed in service on 2024-06-15, before the vehicle was acquired (2024-07-01)"
    )


# --- What the verdict states: scope, dates, rules, method, citations ---------------------


def test_the_verdict_states_what_cairn_does_not_check():
    chain, claim = simple_claim()
    scope = body(chain, claim)["scope"]
    assert "It is not the credit allowed" in scope["statement"]
    not_checked = {item["check"]: item["citation"] for item in scope["not_checked"]}
    assert not_checked == {
        "msrp_limit": "IRC §30D(f)(11)",
        "income_limit": "IRC §30D(f)(10)",
        "battery_capacity": "IRC §30D(d)(1)(F)",
        "gross_vehicle_weight": "IRC §30D(d)(1)(E)",
        "qualified_manufacturer": "IRC §30D(d)(1)(C), (d)(3)",
        "seller_report": "IRC §30D(d)(1)(H), (f)(9)",
        "buyer_use": "IRC §30D(d)(1)(A), (B)",
        "statements_true": "26 CFR §1.30D-6(b)",
    }
    assert scope["checked"] == [
        "critical_minerals",
        "battery_components",
        "foreign_entity_of_concern",
        "final_assembly",
        "credit_in_force",
        "integrity",
    ]


def test_the_verdict_states_the_dates_schedule_row_rules_and_method_applied():
    chain, claim = simple_claim(acquired="2024-05-10", placed_in_service="2024-05-20")
    applied = body(chain, claim)["applied"]
    assert applied["acquired"] == "2024-05-10" and applied["placed_in_service"] == "2024-05-20"
    assert applied["final_assembly_country"] == "US"
    assert applied["schedule_row"] == {
        "placed_in_service_from": "2024-01-01",
        "placed_in_service_to": "2024-12-31",
        "critical_minerals_pct": "50",
        "battery_components_pct": "60",
        "source": "",
    }
    assert applied["rules_version"] == RULES.version == "test"
    assert applied["method"]["critical_minerals"] == "value_added_50pct"
    assert applied["method"]["tracing"] == "per_vehicle"
    assert (applied["method"]["agreements_judged_on"], applied["method"]["feoc_judged_on"]) == (
        "activity_date",
        "activity_date",
    )


def test_each_requirement_names_its_statutory_citation():
    chain, claim = simple_claim()
    citations = {code: item["citation"] for code, item in body(chain, claim)["applied"]["requirements"].items()}
    assert citations == {
        "critical_minerals": "IRC §30D(b)(2), (e)(1); 26 CFR §1.30D-3 (T.D. 9995)",
        "battery_components": "IRC §30D(b)(3), (e)(2); 26 CFR §1.30D-3 (T.D. 9995)",
        "foreign_entity_of_concern": "IRC §30D(d)(7); 26 CFR §1.30D-6 (T.D. 9995)",
        "final_assembly": "IRC §30D(d)(1)(G)",
        "credit_in_force": "IRC §30D(h), as amended by Public Law 119-21 §70502",
    }


@pytest.mark.parametrize(("placed_in_service", "available"), [("2024-06-15", True), ("2027-01-01", False)])
def test_the_feoc_impracticable_to_trace_election_is_recorded(placed_in_service, available):
    """26 CFR §1.30D-6 (T.D. 9995): until 2026-12-31 a manufacturer may
    exclude listed impracticable-to-trace battery materials from FEOC
    tracing if it elects to. The v1 claim cannot elect: recorded as data,
    and the FEOC test is applied in full."""
    chain, claim = simple_claim(acquired="2024-06-01", placed_in_service=placed_in_service)
    election = body(chain, claim)["applied"]["feoc_impracticable_to_trace"]
    assert election == {
        "elected": False,
        "available": available,
        "available_through": "2026-12-31",
        "items": ["graphite in anode material", "electrolyte salts", "binders", "additives"],
        "applied": False,
        "basis": "the claim elects nothing (no such field in cairn.attestation/v1): the FEOC test is applied in full",
    }


def test_feoc_before_2024_is_not_applicable_and_says_so():
    """§30D(d)(7): components from vehicles placed in service after 2023-12-31, minerals after 2024-12-31."""
    statuses = {}
    for placed_in_service in ("2023-12-31", "2024-01-01", "2025-01-01"):
        chain, claim = simple_claim(acquired="2023-12-01", placed_in_service=placed_in_service)
        basis = body(chain, claim)["applied"]["requirements"]["foreign_entity_of_concern"]
        statuses[placed_in_service] = (basis["status"], basis["reason"][:40])
    assert statuses == {
        "2023-12-31": ("not_applicable", "not applicable: no FEOC restriction appl"),
        "2024-01-01": ("met", "applies to components"),
        "2025-01-01": ("met", "applies to components and minerals"),
    }
