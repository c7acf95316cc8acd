"""DSSE v1 envelopes with Ed25519 signatures (Cairn contract §2).

Implements the Dead Simple Signing Envelope, v1
(https://github.com/secure-systems-lab/dsse/blob/master/protocol.md):

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

LEN is the ASCII decimal byte length and SP one space. A signature is
Ed25519 (RFC 8032) over the PAE bytes, and Cairn's entry_hash is the hex
SHA-256 of the same bytes, so it names the signed statement, not its JSON
wrapping.

This module has no Django import: an auditor can run it over an export.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import TypedDict

import nacl.exceptions
import nacl.signing
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cairn_core import json_strict

ENVELOPE_KEYS = frozenset({"payloadType", "payload", "signatures"})
SIGNATURE_KEYS = frozenset({"keyid", "sig"})
_BASE64_CHARS = re.compile(r"\A[A-Za-z0-9+/_-]*={0,2}\Z")
# NUL and lone surrogates: no database stores them alike, and PAE cannot encode a surrogate.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class EnvelopeError(ValueError):
    """The bytes are not a well-formed DSSE envelope."""


class StoredSignature(TypedDict):
    keyid: str
    sig: str  # standard base64


class StoredEnvelope(TypedDict):
    """An envelope as Cairn stores it, and as `decode_envelope` reads it back."""

    payloadType: str
    payload: str  # standard base64
    signatures: list[StoredSignature]


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    # Cached: the write path asks for both several times per statement.
    @functools.cached_property
    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    @functools.cached_property
    def entry_hash(self) -> str:
        return entry_hash_of(self.pae)

    def to_stored(self) -> StoredEnvelope:
        """The envelope as Cairn stores it: standard base64 with padding."""
        return {
            "payloadType": self.payload_type,
            "payload": b64encode(self.payload),
            "signatures": [{"keyid": s.keyid, "sig": b64encode(s.sig)} for s in self.signatures],
        }

    def stored_json(self) -> str:
        """The stored envelope as sorted, compact JSON (its leaf-input form)."""
        return canonical_json(self.to_stored())


def entry_hash_of(pae: bytes) -> str:
    """Contract §2's entry_hash: the lowercase hex SHA-256 of the PAE (the one
    definition; tests/vectors/entries.json)."""
    return hashlib.sha256(pae).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def canonical_json(value: object) -> str:
    """Sorted keys, no spaces: RFC 8785 form for Cairn's ASCII-only objects."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def b64decode(text: object) -> bytes:
    """Decode standard or URL-safe base64, padded or not; reject anything else.

    Non-zero padding bits are refused so that one byte string has exactly one
    accepted spelling per alphabet.
    """
    if not isinstance(text, str) or not _BASE64_CHARS.match(text):
        raise EnvelopeError("not base64")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1 or (text != stripped and len(text) % 4):
        raise EnvelopeError("bad base64 length or padding")
    standard = stripped.replace("-", "+").replace("_", "/")
    padded = standard + "=" * (-len(standard) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except binascii.Error as exc:
        raise EnvelopeError("not base64") from exc
    if base64.b64encode(raw).decode("ascii") != padded:
        raise EnvelopeError("non-canonical base64 (padding bits set)")
    return raw


def parse_envelope(body: bytes) -> Envelope:
    """Parse the JSON body of a POST into an Envelope, strictly."""
    try:
        document = json_strict.loads(body, numbers=False)  # an envelope holds no numbers
    except json_strict.StrictJSONError as exc:
        raise EnvelopeError(f"body is not JSON: {exc}") from exc
    return envelope_from_dict(document)


def envelope_from_dict(document: object) -> Envelope:
    if not isinstance(document, dict) or set(document) != ENVELOPE_KEYS:
        raise EnvelopeError("an envelope is an object with exactly payloadType, payload, signatures")
    payload_type = document["payloadType"]
    if not isinstance(payload_type, str) or _UNSTORABLE.search(payload_type):
        raise EnvelopeError("payloadType must be a string without NUL or lone surrogates")
    signatures = document["signatures"]
    if not isinstance(signatures, list) or not signatures:
        raise EnvelopeError("signatures must be a non-empty list")
    parsed = []
    for item in signatures:
        if not isinstance(item, dict) or set(item) != SIGNATURE_KEYS:
            raise EnvelopeError("each signature is an object with exactly keyid and sig")
        if not isinstance(item["keyid"], str) or not item["keyid"] or _UNSTORABLE.search(item["keyid"]):
            raise EnvelopeError("keyid must be a non-empty string without NUL or lone surrogates")
        parsed.append(Signature(keyid=item["keyid"], sig=b64decode(item["sig"])))
    if len({s.keyid for s in parsed}) != len(parsed):
        raise EnvelopeError("a key may sign an envelope only once")
    return Envelope(payload_type, b64decode(document["payload"]), tuple(parsed))


# --- Ed25519 ----------------------------------------------------------------


def keyid_for(public_key: bytes) -> str:
    """Cairn's keyid: hex SHA-256 of the 32-byte raw public key."""
    return hashlib.sha256(public_key).hexdigest()


def raw_public_key(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification (PyNaCl/libsodium: twice the rate of the alternative)."""
    if len(signature) != 64:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def sign(payload_type: str, payload: bytes, signers: list[tuple[str, Ed25519PrivateKey]]) -> Envelope:
    """Sign payload with each (keyid, private key): what a client does."""
    message = pae(payload_type, payload)
    return Envelope(
        payload_type,
        payload,
        tuple(Signature(keyid, key.sign(message)) for keyid, key in signers),
    )
