"""Fixtures for the production run, drills, backups and fuzzing."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def ledger_key_dir(settings, tmp_path_factory):
    """A development ledger key outside the repository, one per test session,
    shared with the processes the tests start."""
    settings.CAIRN_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "ledger-key"
    settings.LEDGER_SIGNING_KEY = ""
    settings.LEDGER_ORIGIN = "cairn.test/ledger"
    return settings.CAIRN_DEV_KEY_DIR
