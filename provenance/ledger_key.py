"""The ledger's own Ed25519 key: signs checkpoints and verification reports.

Production sets LEDGER_SIGNING_KEY to the path of a PKCS#8 PEM Ed25519 key.
When it is unset a development key is generated on first use under
settings.CAIRN_DEV_KEY_DIR (outside the repository, mode 0600) and reused
afterwards. keyid = hex SHA-256 of the raw public key (contract §1).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from cairn_core import dsse, signed_note

DEV_KEY_FILENAME = "ledger_signing_key.pem"


@dataclass(frozen=True)
class LedgerKey:
    private_key: Ed25519PrivateKey
    origin: str

    @property
    def public_key(self) -> bytes:
        return dsse.raw_public_key(self.private_key)

    @property
    def keyid(self) -> str:
        return dsse.keyid_for(self.public_key)

    @property
    def verifier(self) -> str:
        """The C2SP verifier string for checkpoints: origin+keyhash+key."""
        return signed_note.verifier_string(self.origin, self.public_key)


def current() -> LedgerKey:
    """The configured ledger key (cached per key path and origin)."""
    return _load(settings.LEDGER_SIGNING_KEY, str(settings.CAIRN_DEV_KEY_DIR), settings.LEDGER_ORIGIN)


@functools.lru_cache(maxsize=4)
def _load(key_path: str, dev_key_dir: str, origin: str) -> LedgerKey:
    path = Path(key_path) if key_path else _development_key_path(Path(dev_key_dir))
    private_key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{path} is not an Ed25519 private key")
    return LedgerKey(private_key, origin)


def _development_key_path(directory: Path) -> Path:
    """Create the development key once; concurrent first uses agree on one."""
    directory = directory.resolve()
    if directory.is_relative_to(Path(settings.BASE_DIR).resolve()):
        raise ImproperlyConfigured("CAIRN_DEV_KEY_DIR must lie outside the repository")
    path = directory / DEV_KEY_FILENAME
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return path


def sign_envelope(payload_type: str, payload: bytes) -> dsse.StoredEnvelope:
    """A DSSE envelope over payload signed by the ledger key, in stored form."""
    key = current()
    return dsse.sign(payload_type, payload, [(key.keyid, key.private_key)]).to_stored()


def sign_checkpoint(tree_size: int, root_hash: bytes) -> str:
    key = current()
    return signed_note.sign_checkpoint(key.origin, tree_size, root_hash, key.private_key)
