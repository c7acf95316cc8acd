"""Where the client's settings come from: flags, then the environment, then a config file.

    CAIRN_URL     the server, e.g. https://cairn.example (default http://127.0.0.1:8000)
    CAIRN_TOKEN   the organisation's API token
    CAIRN_KEY     path to the signing key (PKCS#8 PEM)
    CAIRN_ISSUER  the organisation's slug, for statements that leave `issuer` out
    CAIRN_STATE   the witness state file (default ~/.local/state/cairn/witness.json)
    CAIRN_CONFIG  the config file (default ~/.config/cairn/config.toml)

The config file is TOML with the same names in lower case:

    url = "https://cairn.example"
    token = "…"
    key = "/home/me/.config/cairn/supplier.pem"
    issuer = "greenbushes-lithium"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

NAMES = ("url", "token", "key", "issuer", "state")
DEFAULT_URL = "http://127.0.0.1:8000"


class ConfigError(ValueError):
    pass


def default_config_path() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "cairn" / "config.toml"


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None
    key: str | None
    issuer: str | None
    state: str | None


def resolve(flags: dict[str, str | None], config_path: str | None = None) -> Settings:
    """Each setting from its flag, else CAIRN_<NAME>, else the config file."""
    path = Path(config_path or os.environ.get("CAIRN_CONFIG") or default_config_path())
    from_file: dict[str, object] = {}
    if path.exists():
        try:
            from_file = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the config file {path}: {exc}") from exc
    elif config_path:
        raise ConfigError(f"no config file {path}")
    values: dict[str, str | None] = {}
    for name in NAMES:
        value = flags.get(name) or os.environ.get(f"CAIRN_{name.upper()}") or from_file.get(name)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{name} in {path} must be a string")
        values[name] = value
    return Settings(
        url=values["url"] or DEFAULT_URL,
        token=values["token"],
        key=values["key"],
        issuer=values["issuer"],
        state=values["state"],
    )
