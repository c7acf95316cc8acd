"""Suppliers' signing keys: Ed25519, stored as PKCS#8 PEM files of mode 0600."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from cairn_core import dsse


class KeyFileError(ValueError):
    """The key file is missing, unreadable or not an Ed25519 private key."""


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def write(path: str | os.PathLike[str], key: Ed25519PrivateKey, *, overwrite: bool = False) -> Path:
    """Write `key` as PKCS#8 PEM, created mode 0600 (never readable by others,
    not even for an instant); an existing file is kept unless `overwrite`."""
    path = Path(path)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    if overwrite:
        path.unlink(missing_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyFileError(f"{path} exists; keep it, or remove it first") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return path


def load(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read the key {path}: {exc.strerror}") from exc
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PKCS#8 PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return key


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte public key in base64, as POST /keys takes it."""
    return dsse.b64encode(dsse.raw_public_key(key))


def keyid(key: Ed25519PrivateKey) -> str:
    """Cairn's keyid: hex SHA-256 of the raw public key."""
    return dsse.keyid_for(dsse.raw_public_key(key))
