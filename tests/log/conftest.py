"""Fixtures for the transparency log and integrity tests."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.support import mine_to_claim


@pytest.fixture(autouse=True)
def ledger_key_dir(settings, tmp_path_factory):
    """A development ledger key outside the repository, one per test session."""
    settings.CAIRN_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "ledger-key"
    settings.LEDGER_SIGNING_KEY = ""
    settings.LEDGER_ORIGIN = "cairn.test/ledger"
    return settings.CAIRN_DEV_KEY_DIR


@pytest.fixture
def chain(ledger, miner, refiner, maker):
    """Seven real entries through the ingest service: mine to claim."""
    batches = mine_to_claim(ledger, miner, refiner, maker, "1HGCM82633A004352")
    return batches


@pytest.fixture(autouse=True)
def empty_tile_cache():
    """Full tiles are cached by (log, level, index): each test's log is new."""
    cache.clear()
    yield
    cache.clear()
