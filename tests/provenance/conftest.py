"""Fixtures of the provenance tests."""

import pytest


@pytest.fixture
def world(ledger, miner, refiner):
    """An ore of 10 kg in the miner's custody and one passed to the refiner."""
    ore = ledger.origin(miner, batch="pilbara-mining:ore", quantity="10")
    given = ledger.origin(miner, batch="pilbara-mining:given")
    ledger.transfer(miner, given, refiner)
    return {"ore": ore, "given": given}
