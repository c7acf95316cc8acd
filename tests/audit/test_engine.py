"""The engine on hand-computed claims: each figure below is worked out in the
docstring from the statements the test signs."""

from __future__ import annotations

import pytest

from agreements.models import FeocDesignation
from tests.support import APRIL, MARCH, cells_and_pack, claim, simple_chain, verdict_of

VIN = "5YJ3E1EA0PF000001"


def requirements(verdict: dict) -> dict:
    return verdict["requirements"]


def codes(verdict: dict) -> list[tuple[str, int]]:
    return [(problem["code"], problem["index"]) for problem in verdict["problems"]]


def test_a_chain_that_meets_everything_earns_7500(ledger, miner, refiner, maker):
    """AU extraction (1000) and JP processing (900) of one lithium lineage:
    100% qualifying. Cells (5000) and pack (2000) made in the US: 100%."""
    pack = simple_chain(ledger, miner, refiner, maker)
    row = claim(ledger, maker, pack, VIN)
    verdict = verdict_of(row)
    assert verdict == {
        "vin": VIN,
        "claim_index": row.entry_id,
        "integrity": "intact",
        "credit_usd": "7500",
        "requirements": {
            "critical_minerals": {"met": True, "qualifying_pct": "100.00", "required_pct": "50"},
            "battery_components": {
                "met": True,
                "north_america_pct": "100.00",
                "required_pct": "60",
            },
            "foreign_entity_of_concern": {"met": True},
            "final_assembly": {"met": True},
            "credit_in_force": {"met": True},
        },
        "agreements": ["us-au-fta", "us-japan-cma"],
        "problems": [],
        "checkpoint": verdict["checkpoint"],
        "scope": verdict["scope"],
        "applied": verdict["applied"],
    }
    assert verdict["checkpoint"].splitlines()[1] == str(row.entry_id + 1)


def test_two_sources_share_a_processing_step_by_mineral_mass(ledger, miner, indo_miner, indo_refiner, maker):
    """A: AU, lithium 60 kg, 1000 USD. B: ID, nickel 120 kg, 3000 USD. Both
    processed together in ID (no agreement) into material worth 900 USD.

    The 900 is shared by mineral mass 60 : 120, so lineage (A, lithium) =
    1000 + 300 = 1300, qualifying by extraction (AU); (B, nickel) = 3000 +
    600 = 3600, qualifying by neither. 1300 / 4900 = 26.5306...% < 50%.
    """
    ore_a = ledger.origin(miner, minerals={"lithium": "60"}, country="AU", occurred_at=MARCH)
    ore_b = ledger.origin(indo_miner, minerals={"nickel": "120"}, country="ID", value="3000", occurred_at=MARCH)
    ledger.transfer(miner, ore_a, indo_refiner)
    ledger.transfer(indo_miner, ore_b, indo_refiner)
    (material,) = ledger.transform(
        indo_refiner,
        [(ore_a, "1000"), (ore_b, "1000")],
        [{"quantity": "200", "value_added_usd": "900"}],
        country="ID",
        occurred_at=APRIL,
    )
    ledger.transfer(indo_refiner, material, maker)
    pack = cells_and_pack(ledger, maker, material, "200")
    verdict = verdict_of(claim(ledger, maker, pack, VIN))
    assert requirements(verdict)["critical_minerals"] == {
        "met": False,
        "qualifying_pct": "26.53",
        "required_pct": "50",
    }
    assert verdict["credit_usd"] == "3750"
    assert verdict["agreements"] == ["us-au-fta"]
    assert codes(verdict) == [("critical_minerals", verdict["claim_index"])]


def test_split_then_merge_with_half_a_pack_batch(ledger, miner, indo_miner, indo_refiner, maker):
    """A (AU, lithium 60 kg, 1000 USD, 1000 kg) is split 600/400 (no value);
    the 600 is merged in ID with B (ID, lithium 24 kg, 500 USD, 200 kg) into
    100 kg worth 800; cells 5000, a batch of two packs 2000; the claim takes
    one pack, so f = 1/2 from the pack down, f(A) = 1/2 x 600/1000 = 0.3.

    Processing 800 x 1/2 = 400, shared by lithium mass: A brings 60 x 0.6 =
    36 kg, B 24 kg: A 240, B 160. (A) = 1000 x 0.3 + 240 = 540, qualifying
    (AU); (B) = 500 x 1/2 + 160 = 410, not (ID twice). 540 / 950 =
    56.842...% >= 50%. Components 2500 + 1000, all in the US.
    """
    ore_a = ledger.origin(miner, minerals={"lithium": "60"}, country="AU", occurred_at=MARCH)
    half, _rest = ledger.transform(
        miner,
        [(ore_a, "1000")],
        [{"quantity": "600", "value_added_usd": "0"}, {"quantity": "400", "value_added_usd": "0"}],
        activity="split",
        country="AU",
        occurred_at=MARCH,
    )
    ore_b = ledger.origin(indo_miner, minerals={"lithium": "24"}, quantity="200", value="500", country="ID")
    ledger.transfer(miner, half, indo_refiner)
    ledger.transfer(indo_miner, ore_b, indo_refiner)
    (merged,) = ledger.transform(
        indo_refiner,
        [(half, "600"), (ore_b, "200")],
        [{"quantity": "100", "value_added_usd": "800"}],
        country="ID",
        occurred_at=APRIL,
    )
    ledger.transfer(indo_refiner, merged, maker)
    pack = cells_and_pack(ledger, maker, merged, "100", packs="2")
    verdict = verdict_of(claim(ledger, maker, pack, VIN))
    assert requirements(verdict)["critical_minerals"]["qualifying_pct"] == "56.84"
    assert requirements(verdict)["critical_minerals"]["met"] is True
    assert requirements(verdict)["battery_components"]["north_america_pct"] == "100.00"
    assert verdict["credit_usd"] == "7500"
    assert verdict["problems"] == []


def test_lineage_values_are_exact(ledger, miner, indo_miner, indo_refiner, maker):
    """The same split-and-merge case, read from the assessment: exact Decimals."""
    from decimal import Decimal

    from agreements.snapshot import current_ruleset
    from audit.engine import evaluate_claim
    from provenance import checkpoints

    ore_a = ledger.origin(miner, minerals={"lithium": "60"}, country="AU")
    half, _rest = ledger.transform(
        miner,
        [(ore_a, "1000")],
        [{"quantity": "600", "value_added_usd": "0"}, {"quantity": "400", "value_added_usd": "0"}],
        activity="split",
        country="AU",
    )
    ore_b = ledger.origin(indo_miner, minerals={"lithium": "24"}, quantity="200", value="500", country="ID")
    ledger.transfer(miner, half, indo_refiner)
    ledger.transfer(indo_miner, ore_b, indo_refiner)
    (merged,) = ledger.transform(
        indo_refiner,
        [(half, "600"), (ore_b, "200")],
        [{"quantity": "100", "value_added_usd": "800"}],
        country="ID",
    )
    ledger.transfer(indo_refiner, merged, maker)
    pack = cells_and_pack(ledger, maker, merged, "100", packs="2")
    row = claim(ledger, maker, pack, VIN)
    done = evaluate_claim(row, current_ruleset(), checkpoints.publish_checkpoint()).assessment
    values = {(item.origin, item.mineral): item.value_usd for item in done.lineages}
    assert values == {(ore_a, "lithium"): Decimal(540), (ore_b, "lithium"): Decimal(410)}
    assert [item.qualifies for item in done.lineages] == [True, False]
    assert done.minerals.part == Decimal(540) and done.minerals.whole == Decimal(950)
    assert [(c.component, c.value_usd, c.counts) for c in done.components] == [
        ("battery_cell", Decimal(2500), True),
        ("battery_pack", Decimal(1000), False),
    ]


# --- each requirement failing alone ---------------------------------------------


def test_critical_minerals_failing_alone_gives_3750(ledger, indo_miner, indo_refiner, maker):
    pack = simple_chain(ledger, indo_miner, indo_refiner, maker, mine_country="ID", refinery_country="ID")
    verdict = verdict_of(claim(ledger, maker, pack, VIN))
    assert requirements(verdict)["critical_minerals"] == {
        "met": False,
        "qualifying_pct": "0.00",
        "required_pct": "50",
    }
    assert requirements(verdict)["battery_components"]["met"] is True
    assert verdict["credit_usd"] == "3750"
    assert verdict["agreements"] == []
    assert codes(verdict) == [("critical_minerals", verdict["claim_index"])]


def test_battery_components_failing_alone_gives_3750(ledger, miner, refiner, maker, korean_cells):
    """Cells 5000 made in KR (an FTA country does not count here): 0 / 5000 <
    60%. The pack's assembly (2000, US) is not a battery component: the
    regulations' list ends at the module (26 CFR §1.30D-2(b), T.D. 9995), so
    it no longer lifts the share to 2000 / 7000 = 28.57% as it used to."""
    pack = simple_chain(ledger, miner, refiner, maker, cells_country="KR", cells_maker=korean_cells)
    verdict = verdict_of(claim(ledger, maker, pack, VIN))
    assert requirements(verdict)["battery_components"] == {
        "met": False,
        "north_america_pct": "0.00",
        "required_pct": "60",
    }
    assert requirements(verdict)["critical_minerals"]["met"] is True
    assert verdict["credit_usd"] == "3750"
    assert codes(verdict) == [("battery_components", verdict["claim_index"])]


def test_feoc_failing_alone_gives_0(ledger, miner, refiner, maker, chinese_cells):
    """Cells made in the US by a company incorporated in CN."""
    pack = simple_chain(ledger, miner, refiner, maker, cells_maker=chinese_cells)
    verdict = verdict_of(claim(ledger, maker, pack, VIN))
    assert requirements(verdict)["foreign_entity_of_concern"] == {"met": False}
    assert requirements(verdict)["critical_minerals"]["met"] is True
    assert requirements(verdict)["battery_components"]["met"] is True
    assert verdict["credit_usd"] == "0"
    (problem,) = verdict["problems"]
    assert problem["code"] == "foreign_entity_of_concern"
    assert "ningde-cells" in problem["message"] and "CN" in problem["message"]
    assert problem["index"] < verdict["claim_index"]


def test_final_assembly_failing_alone_gives_0(ledger, miner, refiner, maker):
    pack = simple_chain(ledger, miner, refiner, maker)
    verdict = verdict_of(claim(ledger, maker, pack, VIN, country="DE"))
    assert requirements(verdict)["final_assembly"] == {"met": False}
    assert verdict["credit_usd"] == "0"
    assert codes(verdict) == [("final_assembly", verdict["claim_index"])]


@pytest.mark.parametrize(("acquired", "credit"), [("2025-09-30", "7500"), ("2025-10-01", "0")])
def test_credit_in_force_depends_on_the_acquisition_date(ledger, miner, refiner, maker, acquired, credit):
    """Delivered 2025-10-15 either way (60% / 60% apply); only the contract
    date decides whether the credit still exists."""
    pack = simple_chain(ledger, miner, refiner, maker)
    row = claim(ledger, maker, pack, VIN, acquired=acquired, placed_in_service="2025-10-15")
    verdict = verdict_of(row)
    assert requirements(verdict)["credit_in_force"] == {"met": credit != "0"}
    assert requirements(verdict)["critical_minerals"]["required_pct"] == "60"
    assert verdict["credit_usd"] == credit
    expected = [] if credit != "0" else [("credit_in_force", row.entry_id)]
    assert codes(verdict) == expected


def test_before_the_requirements_apply_they_are_not_applicable(ledger, miner, refiner, maker):
    """Placed in service 2023-04-17: the two requirements apply only to
    vehicles placed in service from 2023-04-18 (IRA §13401(k)(3)). They are
    "not applicable", not failed (formerly both "unmet" and $0): met, with no
    required percentage, and the credit is the full $7,500 of §30D(b)."""
    pack = simple_chain(ledger, miner, refiner, maker)
    row = claim(ledger, maker, pack, VIN, acquired="2023-04-01", placed_in_service="2023-04-17")
    verdict = verdict_of(row)
    for code in ("critical_minerals", "battery_components"):
        assert requirements(verdict)[code]["required_pct"] is None
        assert requirements(verdict)[code]["met"] is True
        basis = verdict["applied"]["requirements"][code]
        assert basis["status"] == "not_applicable"
        assert basis["reason"].startswith("not applicable: outside the requirements' period")
    assert verdict["applied"]["schedule_row"] is None
    assert verdict["applied"]["method"]["critical_minerals"] == "not_applicable"
    assert verdict["problems"] == []
    assert verdict["credit_usd"] == "7500"


# --- FEOC before and after its dates ------------------------------------------------


@pytest.mark.parametrize(("placed_in_service", "credit"), [("2023-12-31", "7500"), ("2024-01-01", "0")])
def test_feoc_components_from_2024(ledger, miner, refiner, maker, chinese_cells, placed_in_service, credit):
    pack = simple_chain(ledger, miner, refiner, maker, cells_maker=chinese_cells)
    row = claim(ledger, maker, pack, VIN, acquired="2023-12-01", placed_in_service=placed_in_service)
    verdict = verdict_of(row)
    assert requirements(verdict)["foreign_entity_of_concern"]["met"] is (credit != "0")
    assert verdict["credit_usd"] == credit


@pytest.mark.parametrize(("placed_in_service", "credit"), [("2024-12-31", "7500"), ("2025-01-01", "0")])
def test_feoc_minerals_from_2025(ledger, miner, refiner, maker, placed_in_service, credit):
    """Lithium refined at a site in CN by the Japanese refiner: processing in a
    covered nation. Extraction in AU still makes the lineage qualify."""
    pack = simple_chain(ledger, miner, refiner, maker, refinery_country="CN")
    row = claim(ledger, maker, pack, VIN, acquired="2024-12-01", placed_in_service=placed_in_service)
    verdict = verdict_of(row)
    assert requirements(verdict)["critical_minerals"]["qualifying_pct"] == "100.00"
    assert requirements(verdict)["foreign_entity_of_concern"]["met"] is (credit != "0")
    assert verdict["credit_usd"] == credit
    if credit == "0":
        (problem,) = verdict["problems"]
        assert problem["code"] == "foreign_entity_of_concern"
        assert "minerals" in problem["message"] and "covered nation CN" in problem["message"]


@pytest.mark.parametrize(("effective_from", "credit"), [("2024-04-02", "7500"), ("2024-04-01", "0")])
def test_a_designation_counts_from_the_day_of_the_activity(ledger, miner, refiner, maker, effective_from, credit):
    """The refiner (JP) is designated a FEOC; its processing occurred 2024-04-01."""
    FeocDesignation.objects.create(
        organization=refiner.org.slug,
        basis="listing",
        covered_nation="CN",
        effective_from=effective_from,
        source="https://example.org/designation",
    )
    pack = simple_chain(ledger, miner, refiner, maker)
    row = claim(ledger, maker, pack, VIN, acquired="2025-01-01", placed_in_service="2025-01-02")
    verdict = verdict_of(row)
    assert verdict["credit_usd"] == credit


def test_recycled_in_north_america_qualifies(ledger, recycler, indo_refiner, maker):
    """Recycled in CA, refined in ID (no agreement): qualifies by recycling."""
    scrap = ledger.origin(recycler, minerals={"lithium": "60"}, country="CA", activity="recycling", occurred_at=MARCH)
    ledger.transfer(recycler, scrap, indo_refiner)
    (material,) = ledger.transform(
        indo_refiner,
        [(scrap, "1000")],
        [{"quantity": "100", "value_added_usd": "900"}],
        country="ID",
    )
    ledger.transfer(indo_refiner, material, maker)
    pack = cells_and_pack(ledger, maker, material, "100")
    verdict = verdict_of(claim(ledger, maker, pack, VIN))
    assert requirements(verdict)["critical_minerals"]["qualifying_pct"] == "100.00"
    assert verdict["agreements"] == []
    assert verdict["credit_usd"] == "7500"
