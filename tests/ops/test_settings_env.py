"""Every setting read from the environment fails loudly when it cannot be
read: start-up stops and names the variable, rather than a typo silently
meaning a default or a traceback naming none."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READ = (
    "import config.settings as s; print(s.CAIRN_APPEND_TIMEOUT, s.CAIRN_SWEEP_ROLLING_ENTRIES, s.LEDGER_WITNESS_QUORUM)"
)


def _settings(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SECRET_KEY": "test", "CAIRN_VAR_DIR": str(tmp_path), **variables}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "-c", READ], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CAIRN_APPEND_TIMEOUT", "ten"),
        ("CAIRN_SWEEP_ROLLING_ENTRIES", "1.5"),
        ("CONN_MAX_AGE", "600s"),
        ("LEDGER_WITNESSES", "[{"),
        ("LEDGER_WITNESS_QUORUM", "all"),
        ("CAIRN_HTTPS", "ture"),
        ("CAIRN_CHECKPOINT_EVERY_SECONDS", "1m"),
    ],
)
def test_an_unreadable_value_stops_start_up_naming_its_variable(tmp_path, name, value):
    result = _settings(tmp_path, **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr.splitlines()[-1]


def test_unset_or_empty_values_keep_their_defaults(tmp_path):
    for value in ("", " "):
        result = _settings(tmp_path, CAIRN_APPEND_TIMEOUT=value, CAIRN_SWEEP_ROLLING_ENTRIES=value)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["10.0", "16384", "0"]


def test_every_variable_the_settings_read_is_documented_for_operators():
    source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'(?:os\.environ\.get\(|os\.environ\[|env_\w+\()\s*"([A-Z][A-Z0-9_]+)"', source))
    read |= set(re.findall(r'"([A-Z][A-Z0-9_]+_SECONDS)"\)', source))  # the beat intervals, read in a loop
    assert {"DATABASE_URL", "CAIRN_HTTPS", "LEDGER_WITNESSES", "CAIRN_DEV_KEY_DIR"} <= read
    operators = (ROOT / "docs" / "operators.md").read_text()
    assert sorted(name for name in read if f"`{name}" not in operators and f"{name}=" not in operators) == []
