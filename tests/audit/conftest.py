"""Audit fixtures: more personas, and supply chains whose verdicts are
computed by hand in the tests that use them."""

from __future__ import annotations

import pytest

from audit.engine import verify_claim
from tests.support import make_party


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


@pytest.fixture
def verify():
    def run(vin: str, user=None):
        return verify_claim(vin, requested_by=user)

    return run
