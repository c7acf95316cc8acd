"""Re-checking logged entries: what every verifier in Cairn checks the same way.

An entry of the log is its leaf input (contract §4):
`{"envelope": <DSSE envelope>, "integrated_time": <unix seconds>}`. From it
alone a verifier recomputes

* the leaf hash, SHA-256(0x00 ‖ leaf input) (RFC 9162 §2.1);
* the PAE and entry_hash = SHA-256(PAE) of the envelope (DSSE v1);
* each signature: Ed25519 over the PAE by a key valid at integrated_time
  (registered at or before it, not revoked at it), one of them a key of
  the payload's issuer (`check_signatures`);
* the batches it names with the `prev` it signed, and those it creates
  (`named_batches`, `created_batches`): the links of the hash chains.

The server's integrity checks, claim verification and the offline bundle
verifier all use these, so one tampering is named with one problem code
wherever it is found. Problem codes: `leaf_hash`, `envelope`, `entry_hash`,
`statement`, `signature`, `chain`, `inclusion`, `checkpoint`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

from cairn_core import dsse
from cairn_core.payload import JSON, JSONObject
from cairn_core.problems import Problem


@dataclass(frozen=True)
class Key:
    """A registered key, ready to verify (one VerifyKey per key, not per signature)."""

    verify_key: nacl.signing.VerifyKey
    organization: str
    registered: int  # unix seconds, rounded down like integrated_time
    revoked: float | None

    @classmethod
    def of(cls, public_key: bytes, organization: str, registered: dt.datetime, revoked: dt.datetime | None) -> Key:
        return cls(
            nacl.signing.VerifyKey(bytes(public_key)),
            organization,
            int(registered.timestamp()),
            revoked.timestamp() if revoked else None,
        )

    def valid_at(self, integrated_time: int) -> bool:
        return self.registered <= integrated_time and (self.revoked is None or integrated_time < self.revoked)

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            self.verify_key.verify(message, signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
            return False
        return True


@dataclass
class Decoded:
    """An envelope decoded from its stored text, with its recomputed PAE and hash."""

    payload: JSONObject
    pae: bytes
    entry_hash: str
    signatures: tuple[tuple[str, bytes], ...]  # (keyid, signature)

    @property
    def keyids(self) -> set[str]:
        return {keyid for keyid, _sig in self.signatures}


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def decode_envelope(document: Mapping[str, Any]) -> Decoded:
    """An envelope as Cairn stores it (standard base64) decoded; ValueError, KeyError or TypeError if not."""
    raw = base64.b64decode(document["payload"], validate=True)
    message = dsse.pae(document["payloadType"], raw)
    payload: JSON = json.loads(raw)
    if not isinstance(payload, dict):
        raise TypeError("the payload is not a JSON object")
    signatures = tuple((item["keyid"], base64.b64decode(item["sig"], validate=True)) for item in document["signatures"])
    return Decoded(payload, message, hashlib.sha256(message).hexdigest(), signatures)


def check_signatures(index: int, integrated_time: int, decoded: Decoded, keys: Mapping[str, Key]) -> list[Problem]:
    """Every signature verifies by a key valid when logged; one is the issuer's."""
    problems = []
    issuer_signed = False
    for keyid, signature in decoded.signatures:
        key = keys.get(keyid)
        if key is None:
            problems.append(Problem(index, "signature", f"no registered key {keyid}"))
            continue
        if not key.valid_at(integrated_time):
            problems.append(Problem(index, "signature", f"key {keyid} was not valid when logged"))
        if not key.verifies(decoded.pae, signature):
            problems.append(Problem(index, "signature", f"signature by {keyid} does not verify"))
            continue
        issuer_signed = issuer_signed or key.organization == decoded.payload.get("issuer")
    if not issuer_signed:
        problems.append(Problem(index, "signature", "no valid signature by a key of the issuer"))
    return problems


def named_batches(payload: Mapping[str, Any]) -> dict[str, str | None]:
    """Existing batches a signed statement names, with the prev it signed (None if it names none)."""
    if payload.get("type") == "transform":
        return {item.get("batch"): item.get("prev") for item in payload.get("inputs", [])}
    if "batch" in payload:
        return {payload["batch"]: payload.get("prev")}
    return {}


def created_batches(payload: Mapping[str, Any]) -> set[str]:
    return {item.get("batch") for item in payload.get("outputs", [])}
