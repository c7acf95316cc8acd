"""Client settings: flags, then CAIRN_* variables, then the TOML config file."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cairn_core.client import config
from cairn_core.client.cli import main


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("URL", "TOKEN", "KEY", "ISSUER", "STATE", "CONFIG"):
        monkeypatch.delenv(f"CAIRN_{name}", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return monkeypatch


def test_flags_then_environment_then_file(clean_env, tmp_path):
    path = tmp_path / "cairn.toml"
    path.write_text('url = "https://file.example"\ntoken = "from-file"\nkey = "/file.pem"\nissuer = "acme"\n')
    clean_env.setenv("CAIRN_TOKEN", "from-env")
    settings = config.resolve({"key": "/flag.pem"}, str(path))
    assert (settings.url, settings.token, settings.key, settings.issuer) == (
        "https://file.example",
        "from-env",
        "/flag.pem",
        "acme",
    )


def test_the_default_file_and_the_default_url(clean_env, tmp_path):
    assert config.resolve({}).url == config.DEFAULT_URL
    default = tmp_path / "xdg" / "cairn" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text('url = "https://cairn.example"\n')
    assert config.resolve({}).url == "https://cairn.example"
    clean_env.setenv("CAIRN_CONFIG", str(tmp_path / "elsewhere.toml"))
    assert config.resolve({}).url == config.DEFAULT_URL  # a variable naming no file: defaults


def test_a_bad_config_file_is_a_clear_error(clean_env, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("url = \n")
    result = CliRunner().invoke(main, ["--config", str(path), "batch", "x"])
    assert result.exit_code == 1 and "cannot read the config file" in result.output
    missing = CliRunner().invoke(main, ["--config", str(tmp_path / "none.toml"), "batch", "x"])
    assert missing.exit_code == 1 and "no config file" in missing.output
    path.write_text("token = 5\n")
    wrong = CliRunner().invoke(main, ["--config", str(path), "batch", "x"])
    assert wrong.exit_code == 1 and "token in" in wrong.output and "must be a string" in wrong.output
