"""C2SP tlog-cosignature (Ed25519) and witness vkeys (contract §4, §10).

A witness cosigns a checkpoint by adding a signed-note signature line:

    — <witness name> base64(key ID (4) || timestamp (8, big-endian) || Ed25519 signature (64))
    key ID  = SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4]
    message = "cosignature/v1\\n" "time <timestamp>\\n" || checkpoint body

and is named by a vkey (C2SP signed-note "verifier key"):

    <name>+<hex key ID>+base64(0x04 || 32-byte public key)

A v1 cosignature states that, at its timestamp, the checkpoint is the
largest consistent tree head the witness has seen of that log. The ledger's
own line (type 0x01, `cairn_core.signed_note`) always comes first; lines by
keys a verifier was not given are ignored, as the signed-note spec says.

No Django import: an independent verifier can use this file alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cairn_core.signed_note import SIGNATURE_PREFIX, NoteError, check_name, split_note

COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
_HEX8 = re.compile(r"\A[0-9a-f]{8}\Z")


@dataclass(frozen=True)
class WitnessKey:
    """A witness's name and Ed25519 public key, as its vkey names them."""

    name: str
    key_id: bytes
    public_key: bytes

    def __str__(self) -> str:
        return vkey(self.name, self.public_key)


@dataclass(frozen=True)
class Cosignature:
    """One verified cosignature line: who, when, and the line itself."""

    witness: WitnessKey
    timestamp: int
    line: str  # "— name base64…", without its newline


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([COSIGNATURE_V1]) + public_key).digest()[:4]


def vkey(name: str, public_key: bytes) -> str:
    """The witness's verifier key string."""
    check_name(name)
    if len(public_key) != 32:
        raise NoteError("an Ed25519 public key is 32 bytes")
    data = base64.b64encode(bytes([COSIGNATURE_V1]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key).hex()}+{data}"


def parse_vkey(text: str) -> WitnessKey:
    """Parse `<name>+<hex key ID>+<base64(0x04 || key)>` and check its key ID."""
    parts = text.strip().split("+")
    if len(parts) < 3:
        raise NoteError("a witness vkey is <name>+<key ID>+<key data>")
    name, hash_hex, key_data = parts[0], parts[1], "+".join(parts[2:])
    check_name(name)
    if not _HEX8.match(hash_hex):
        raise NoteError("the key ID is 8 lowercase hex digits")
    try:
        raw = base64.b64decode(key_data, validate=True)
    except binascii.Error as exc:
        raise NoteError("the key data is not base64") from exc
    if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
        raise NoteError("a witness vkey is of type 0x04 (cosignature/v1, Ed25519) with a 32-byte key")
    public_key = raw[1:]
    if key_id(name, public_key).hex() != hash_hex:
        raise NoteError("the key ID does not match the name and key")
    return WitnessKey(name, bytes.fromhex(hash_hex), public_key)


def message(body: str, timestamp: int) -> bytes:
    """The bytes a cosignature signs: header, time line, the checkpoint's body."""
    return f"{HEADER}time {timestamp}\n{body}".encode()


def cosign(body: str, name: str, private_key: Ed25519PrivateKey, timestamp: int | None = None) -> str:
    """A cosignature line (no newline) over a checkpoint body, by the witness `name`."""
    when = int(time.time()) if timestamp is None else timestamp
    if not 0 <= when <= MAX_TIMESTAMP:
        raise NoteError("a cosignature's timestamp is between 0 and 2^63-1")
    public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private_key.sign(message(body, when))
    raw = key_id(check_name(name), public_key) + struct.pack(">Q", when) + signature
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(raw).decode('ascii')}"


def verify_line(line: str, body: str, witness: WitnessKey) -> Cosignature:
    """The cosignature on `line` by `witness` over `body`, or NoteError."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("a signature line starts with an em dash and a space")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise NoteError("a cosignature is base64") from exc
    if name != witness.name or raw[:4] != witness.key_id:
        raise NoteError(f"the line is not by {witness.name}")
    if len(raw) != 4 + 8 + 64:
        raise NoteError(f"a cosignature by {witness.name} is 76 bytes, not {len(raw)}")
    (timestamp,) = struct.unpack(">Q", raw[4:12])
    if timestamp > MAX_TIMESTAMP:
        raise NoteError(f"the cosignature by {witness.name} has a timestamp above 2^63-1")
    try:
        nacl.signing.VerifyKey(witness.public_key).verify(message(body, timestamp), raw[12:])
    except (nacl.exceptions.BadSignatureError, ValueError) as exc:
        raise NoteError(f"the cosignature by {witness.name} does not verify") from exc
    return Cosignature(witness, timestamp, line)


def signature_lines(text: str) -> list[str]:
    """A response or note's signature lines (each "— …", without newlines)."""
    lines = [line for line in text.split("\n") if line]
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("every line of a cosignature block starts with an em dash and a space")
    return lines


def verified(body: str, lines: Iterable[str], witnesses: Iterable[WitnessKey]) -> dict[str, Cosignature]:
    """The cosignatures among `lines` that verify over `body`, by witness vkey.

    Lines by keys not given are ignored; a line that names a given key but
    fails is ignored too (a verifier counts only what verifies), and one
    verified line per witness is kept.
    """
    found: dict[str, Cosignature] = {}
    candidates = list(lines)
    for witness in witnesses:
        for line in candidates:
            try:
                found[str(witness)] = verify_line(line, body, witness)
                break
            except NoteError:
                continue
    return found


def split_cosigned(text: str, log_name: str) -> tuple[str, list[str]]:
    """A checkpoint with cosignatures: (the log-signed note alone, the other lines).

    "The checkpoint text" (contract §4) is the body, the empty line and the
    ledger's own line, which comes first; every other line travels beside it.
    """
    body, signatures = split_note(text)
    lines = text[len(body) + 1 :].rstrip("\n").split("\n")
    if not signatures or signatures[0][0] != log_name:
        raise NoteError(f"the first signature line is not the log's ({log_name})")
    return f"{body}\n{lines[0]}\n", lines[1:]


def public_key_of(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
