"""Audit fixtures: more personas, and supply chains whose verdicts are
computed by hand in the tests that use them."""

from __future__ import annotations

import pytest

from agreements.snapshot import current_ruleset
from audit.engine import evaluate_claim, verify_claim
from provenance import checkpoints
from provenance.models import Claim
from tests.support import Ledger, Party, make_party

MARCH = "2024-03-01T00:00:00Z"
APRIL = "2024-04-01T00:00:00Z"
MAY = "2024-05-01T00:00:00Z"


@pytest.fixture
def indo_miner(db):
    """A miner in a country with no agreement (Indonesia)."""
    return make_party("sulawesi-nickel", ["supplier"], country="ID", name="Sulawesi Nickel")


@pytest.fixture
def indo_refiner(db):
    return make_party("morowali-refining", ["supplier"], country="ID", name="Morowali Refining")


@pytest.fixture
def korean_cells(db):
    return make_party("ulsan-cells", ["manufacturer"], country="KR", name="Ulsan Cells")


@pytest.fixture
def chinese_cells(db):
    """Incorporated in a covered nation: a FEOC for whatever it makes."""
    return make_party("ningde-cells", ["manufacturer"], country="CN", name="Ningde Cells")


@pytest.fixture
def recycler(db):
    return make_party("ontario-recycling", ["supplier"], country="CA", name="Ontario Recycling")


def cells_and_pack(
    ledger: Ledger,
    maker: Party,
    material: str,
    quantity: str,
    *,
    cells_country: str = "US",
    cells_maker: Party | None = None,
    packs: str = "1",
) -> str:
    """Cells worth 5000 from `material`, then `packs` packs worth 2000 (assembly, US)."""
    cells_maker = cells_maker or maker
    (cells,) = ledger.transform(
        cells_maker,
        [(material, quantity)],
        [
            {
                "quantity": "10",
                "unit": "unit",
                "component": "battery_cell",
                "value_added_usd": "5000",
            }
        ],
        activity="manufacturing",
        country=cells_country,
        occurred_at=MAY,
    )
    if cells_maker is not maker:
        ledger.transfer(cells_maker, cells, maker)
    (pack,) = ledger.transform(
        maker,
        [(cells, "10")],
        [
            {
                "quantity": packs,
                "unit": "unit",
                "component": "battery_pack",
                "value_added_usd": "2000",
            }
        ],
        activity="assembly",
        occurred_at=MAY,
    )
    return pack


def simple_chain(
    ledger: Ledger,
    miner: Party,
    refiner: Party,
    maker: Party,
    *,
    mine_country: str = "AU",
    refinery_country: str = "JP",
    **cells,
) -> str:
    """Ore (lithium 60 kg, 1000 USD) -> hydroxide (900 USD) -> cells -> pack."""
    ore = ledger.origin(miner, minerals={"lithium": "60"}, country=mine_country, occurred_at=MARCH)
    ledger.transfer(miner, ore, refiner)
    (hydroxide,) = ledger.transform(
        refiner,
        [(ore, "1000")],
        [{"quantity": "100", "value_added_usd": "900", "material": "lithium hydroxide"}],
        country=refinery_country,
        occurred_at=APRIL,
    )
    ledger.transfer(refiner, hydroxide, cells.get("cells_maker") or maker)
    return cells_and_pack(ledger, maker, hydroxide, "100", **cells)


def claim(ledger: Ledger, maker: Party, pack: str, vin: str, **options) -> Claim:
    ledger.claim(maker, pack, vin, **options)
    return Claim.objects.get(vin=vin)


def verdict_of(claim_row: Claim, ruleset=None) -> dict:
    """The verdict against a fresh checkpoint, as the contract's dict."""
    checkpoint = checkpoints.publish_checkpoint()
    return evaluate_claim(claim_row, ruleset or current_ruleset(), checkpoint).as_dict()


@pytest.fixture
def verify():
    def run(vin: str, user=None):
        return verify_claim(vin, requested_by=user)

    return run
