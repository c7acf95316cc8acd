"""C2SP signed notes and tlog checkpoints with Ed25519 (Cairn contract §4).

Implements https://c2sp.org/signed-note and https://c2sp.org/tlog-checkpoint:

    note      = body "\\n" signature-line+
    body      = text lines, each ending in "\\n"
    signature = "— " name " " base64(key hash (4 bytes) || Ed25519 signature)
    key hash  = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]
    verifier  = name "+" hex(key hash) "+" base64(0x01 || public key)

The signature is Ed25519 (RFC 8032) over the body bytes. A checkpoint's body
is three lines: the log's origin, the tree size in decimal, and the base64
RFC 9162 root hash; Cairn writes no extension lines.

No Django import: an independent verifier can use this file alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_DECIMAL = re.compile(r"\A(0|[1-9][0-9]{0,19})\Z")
_HEX8 = re.compile(r"\A[0-9a-f]{8}\Z")


class NoteError(ValueError):
    """Malformed note, checkpoint or verifier, or a signature that fails."""


@dataclass(frozen=True)
class Verifier:
    name: str
    key_hash: bytes
    public_key: bytes

    def __str__(self) -> str:
        return verifier_string(self.name, self.public_key)


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes


def check_name(name: str) -> str:
    """Key names are non-empty and contain no whitespace and no '+'."""
    if not name or "+" in name or any(char.isspace() for char in name):
        raise NoteError(f"invalid key name {name!r}")
    return name


def key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte Ed25519 key hash that prefixes each signature."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def verifier_string(name: str, public_key: bytes) -> str:
    check_name(name)
    key_data = base64.b64encode(bytes([ED25519]) + public_key).decode("ascii")
    return f"{name}+{key_hash(name, public_key).hex()}+{key_data}"


def parse_verifier(text: str) -> Verifier:
    """Parse `<name>+<hex key hash>+<base64(0x01 || key)>` and check its key hash."""
    parts = text.split("+")
    if len(parts) < 3:
        raise NoteError("a verifier is <name>+<key hash>+<key data>")
    # The base64 key data may itself contain '+': the name and hash come first.
    name, hash_hex, key_data = parts[0], parts[1], "+".join(parts[2:])
    check_name(name)
    if not _HEX8.match(hash_hex):
        raise NoteError("the key hash is 8 lowercase hex digits")
    try:
        raw = base64.b64decode(key_data, validate=True)
    except binascii.Error as exc:
        raise NoteError("the key data is not base64") from exc
    if len(raw) != 33 or raw[0] != ED25519:
        raise NoteError("only Ed25519 verifier keys (0x01 || 32 bytes) are supported")
    public_key = raw[1:]
    if key_hash(name, public_key).hex() != hash_hex:
        raise NoteError("the key hash does not match the name and key")
    return Verifier(name, bytes.fromhex(hash_hex), public_key)


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note: body, a blank line, one signature line."""
    if not body.endswith("\n") or "\n\n" in body:
        raise NoteError("a note body is non-empty lines, each ending in a newline")
    public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private_key.sign(body.encode("utf-8"))
    encoded = base64.b64encode(key_hash(check_name(name), public_key) + signature).decode("ascii")
    return f"{body}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


def split_note(text: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Split a note into its body and its (name, key hash, signature) lines."""
    if not text.endswith("\n"):
        raise NoteError("a note ends with a newline")
    body, separator, signature_block = text.rpartition("\n\n")
    if not separator:
        raise NoteError("a note has a blank line before its signatures")
    signatures = []
    for line in signature_block[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("a signature line starts with an em dash and a space")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise NoteError("a signature is base64") from exc
        if len(raw) < 5:
            raise NoteError("a signature is a key hash and signature bytes")
        signatures.append((check_name(name), raw[:4], raw[4:]))
    return body + "\n", signatures


def open_note(text: str, verifier: Verifier) -> str:
    """Return the note's body if `verifier` signed it, else raise NoteError.

    Signatures by other keys are ignored, as the signed-note spec allows.
    """
    body, signatures = split_note(text)
    for name, hash_bytes, signature in signatures:
        if name != verifier.name or hash_bytes != verifier.key_hash:
            continue
        try:
            nacl.signing.VerifyKey(verifier.public_key).verify(body.encode("utf-8"), signature)
        except (nacl.exceptions.BadSignatureError, ValueError) as exc:
            raise NoteError(f"the signature by {name} does not verify") from exc
        return body
    raise NoteError(f"the note carries no signature by {verifier.name}")


# --- tlog-checkpoint --------------------------------------------------------


def checkpoint_body(origin: str, tree_size: int, root_hash: bytes) -> str:
    if not origin or "\n" in origin:
        raise NoteError("the origin is one non-empty line")
    return f"{origin}\n{tree_size}\n{base64.b64encode(root_hash).decode('ascii')}\n"


def parse_checkpoint(body: str) -> Checkpoint:
    """Read origin, tree size and root hash from a checkpoint body."""
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint has an origin, a size and a root hash line")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin or not _DECIMAL.match(size_text):
        raise NoteError("bad checkpoint origin or tree size")
    try:
        root_hash = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise NoteError("the root hash is base64") from exc
    if len(root_hash) != 32:
        raise NoteError("the root hash is 32 bytes")
    return Checkpoint(origin, int(size_text), root_hash)


def sign_checkpoint(origin: str, tree_size: int, root_hash: bytes, key: Ed25519PrivateKey) -> str:
    """A tlog-checkpoint signed by the log's key, named by its origin."""
    return sign_note(checkpoint_body(origin, tree_size, root_hash), origin, key)


def open_checkpoint(text: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint and return its contents."""
    checkpoint = parse_checkpoint(open_note(text, verifier))
    if checkpoint.origin != (origin or verifier.name):
        raise NoteError(f"the checkpoint's origin is {checkpoint.origin!r}")
    return checkpoint
