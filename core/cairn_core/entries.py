"""Re-checking logged entries: the one way every verifier in Cairn checks one.

An entry of the log is its leaf input (contract §4):
`{"envelope": <DSSE envelope>, "integrated_time": <unix seconds>}`. From it
alone a verifier recomputes, in this order,

* the leaf hash, SHA-256(0x00 ‖ leaf input) (RFC 9162 §2.1), against the
  stored one (`check_stored`);
* the envelope decoded, its PAE and entry_hash = SHA-256(PAE) (DSSE v1),
  and the signed payload against the stored statement (`check_stored`);
* each signature: Ed25519 over the PAE by a registered key, valid at
  integrated_time (registered at or before it, not revoked at it), one of
  them a key of the payload's issuer (`check_signatures`);
* the signature records stored beside it (`check_signature_records`);
* the batches it names with the `prev` it signed, and those it creates
  (`named_batches`, `created_batches`): each prev must be the batch's head
  (`check_prev`), each batch created once (`created_again`).

The ledger check (`verify_ledger` and the Celery checks), claim
verification and the offline bundle verifier all call these, so one
tampering gets one problem code (`cairn_core.problems.Code`) and one
message wherever it is found. Reading the rows, keys and links is the
callers' part.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import nacl.exceptions
import nacl.signing

from cairn_core import dsse
from cairn_core.ledger_entries import LEDGER_PAYLOAD_TYPE
from cairn_core.merkle import leaf_hash
from cairn_core.payload import JSON, JSONObject
from cairn_core.problems import Code, Problem


@dataclass(frozen=True)
class Key:
    """A registered key, ready to verify (one VerifyKey per key, not per signature)."""

    verify_key: nacl.signing.VerifyKey
    organization: str
    registered: int  # unix seconds, rounded down like integrated_time
    revoked: float | None

    @classmethod
    def of(
        cls, public_key: bytes | memoryview, organization: str, registered: dt.datetime, revoked: dt.datetime | None
    ) -> Key:
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


@dataclass(slots=True)
class Decoded:
    """An envelope decoded from its stored text, with its recomputed PAE and hash."""

    payload: JSONObject
    pae: bytes
    entry_hash: str
    signatures: tuple[tuple[str, bytes], ...]  # (keyid, signature)
    payload_type: str = ""

    @property
    def is_ledger_entry(self) -> bool:
        """Signed by the ledger itself (contract §12), not an attestation."""
        return self.payload_type == LEDGER_PAYLOAD_TYPE

    @property
    def entry_type(self) -> str:
        """The stored `type` of the entry: the statement's, or "ledger"."""
        return "ledger" if self.is_ledger_entry else str(self.payload.get("type"))

    @property
    def keyids(self) -> set[str]:
        return {keyid for keyid, _sig in self.signatures}


# A key by its keyid, None when none is registered.
KeyLookup = Callable[[str], Key | None]


class StoredEntry(NamedTuple):
    """An entry as a server stores it: what is checked against what was signed.

    (A named tuple: a claim's DAG has thousands of rows, and they are built fast.)
    """

    index: int  # type: ignore[assignment]  # the log's name for it; shadows tuple.index, which nothing calls
    entry_hash: str
    envelope: str
    integrated_time: int
    leaf_hash: str
    type: str
    issuer: str | None  # None for a ledger entry
    statement: Mapping[str, Any]

    @property
    def leaf_input(self) -> bytes:
        return stored_leaf_input(self.envelope, self.integrated_time)


@dataclass(slots=True)
class Checked:
    """An entry's recomputed leaf hash, its decoded envelope (None if it does not decode), its problems."""

    leaf: bytes
    decoded: Decoded | None
    problems: list[Problem] = field(default_factory=list)


def leaf_input_text(envelope: str, integrated_time: int) -> str:
    """Contract §4's leaf input from the envelope as stored (its canonical JSON
    text, sorted keys and no spaces): the envelope and the integrated time as
    json.dumps(…, sort_keys=True, separators=(",", ":")) writes them. ASCII,
    like the stored envelope. The one definition: tests/vectors/entries.json."""
    return f'{{"envelope":{envelope},"integrated_time":{integrated_time}}}'


def stored_leaf_input(envelope: str, integrated_time: int) -> bytes:
    """The leaf input's bytes, which the leaf hash hashes."""
    return leaf_input_text(envelope, integrated_time).encode()


def _b64(text: object) -> bytes:
    """Standard base64 with padding, strictly (binascii.Error, a ValueError, if not)."""
    if not isinstance(text, str):
        raise TypeError("base64 must be a string")
    return binascii.a2b_base64(text, strict_mode=True)


def decode_envelope(document: Mapping[str, Any]) -> Decoded:
    """An envelope as Cairn stores it (standard base64) decoded; ValueError, KeyError or TypeError if not."""
    payload_type = document["payloadType"]
    if not isinstance(payload_type, str):
        raise TypeError("payloadType is not a string")
    raw = _b64(document["payload"])
    message = dsse.pae(payload_type, raw)
    payload: JSON = json.loads(raw)
    if not isinstance(payload, dict):
        raise TypeError("the payload is not a JSON object")
    signatures = tuple((item["keyid"], _b64(item["sig"])) for item in document["signatures"])
    return Decoded(payload, message, dsse.entry_hash_of(message), signatures, payload_type)


def check_stored(entry: StoredEntry) -> Checked:
    """Leaf hash, envelope, entry_hash and statement of a stored entry, in that order."""
    leaf = leaf_hash(entry.leaf_input)
    checked = Checked(leaf, None)
    if leaf.hex() != entry.leaf_hash:
        checked.problems.append(
            Problem(entry.index, Code.LEAF_HASH, "stored leaf_hash is not the hash of the entry's leaf input")
        )
    try:
        checked.decoded = decoded = decode_envelope(json.loads(entry.envelope))
    except (ValueError, KeyError, TypeError) as exc:  # binascii and JSON errors are ValueErrors
        message = f"stored envelope or payload does not decode: {exc}"
        checked.problems.append(Problem(entry.index, Code.MALFORMED_ENVELOPE, message))
        return checked
    if decoded.entry_hash != entry.entry_hash:
        message = "entry_hash is not the SHA-256 of the envelope's PAE"
        checked.problems.append(Problem(entry.index, Code.ENTRY_HASH, message))
    payload = decoded.payload
    issuer = None if decoded.is_ledger_entry else payload.get("issuer")
    if (payload, decoded.entry_type, issuer) != (entry.statement, entry.type, entry.issuer):
        message = "stored statement, type or issuer differ from the signed payload"
        checked.problems.append(Problem(entry.index, Code.STATEMENT, message))
    return checked


def check_signatures(index: int, integrated_time: int, decoded: Decoded, keys: KeyLookup) -> list[Problem]:
    """Every signature verifies, by a registered key valid when logged; one is the issuer's."""
    problems = []
    issuer = decoded.payload.get("issuer")
    issuer_signed = False
    for keyid, signature in decoded.signatures:
        key = keys(keyid)
        if key is None:
            problems.append(Problem(index, Code.UNKNOWN_KEY, f"no registered key {keyid}"))
            continue
        verified = key.verifies(decoded.pae, signature)
        if not verified:
            problems.append(Problem(index, Code.BAD_SIGNATURE, f"signature by key {keyid} does not verify"))
        if not key.valid_at(integrated_time):
            problems.append(Problem(index, Code.KEY_NOT_VALID, f"key {keyid} was not valid when logged"))
        issuer_signed = issuer_signed or (verified and key.organization == issuer)
    if not issuer_signed:
        problems.append(Problem(index, Code.ISSUER_SIGNATURE, "no valid signature by a key of the issuer"))
    return problems


def check_ledger_signature(index: int, decoded: Decoded, ledger: Key, ledger_keyid: str) -> list[Problem]:
    """A ledger entry (contract §12) carries exactly one signature, by the ledger key."""
    if [keyid for keyid, _sig in decoded.signatures] != [ledger_keyid]:
        return [Problem(index, Code.ISSUER_SIGNATURE, "a ledger entry is signed by the ledger key alone")]
    if not ledger.verifies(decoded.pae, decoded.signatures[0][1]):
        return [Problem(index, Code.BAD_SIGNATURE, f"signature by the ledger key {ledger_keyid} does not verify")]
    return []


def check_signature_records(index: int, decoded: Decoded, recorded: Collection[str]) -> list[Problem]:
    """The stored signature records name exactly the envelope's keys."""
    if set(recorded) == decoded.keyids:
        return []
    return [Problem(index, Code.SIGNATURE_RECORDS, "signature records differ from the envelope's signatures")]


def check_prev(index: int, batch: str, signed_prev: str | None, head: str | None) -> list[Problem]:
    """The prev an entry signed for a batch is the batch's head (its previous entry's hash)."""
    if signed_prev == head:
        return []
    message = f"batch {batch}: signed prev {signed_prev} is not the batch's previous entry {head or '(none)'}"
    return [Problem(index, Code.CHAIN, message)]


def not_created(index: int, batch: str) -> Problem:
    """A batch named by an entry although no earlier entry created it."""
    return Problem(index, Code.CHAIN, f"batch {batch}: no earlier entry created it")


def created_again(index: int, batch: str, first: int | None = None) -> Problem:
    """A batch created by a second entry (`first`: an index at or after which it was created)."""
    where = f" (first at index {first} or before)" if first is not None else ""
    return Problem(index, Code.CHAIN, f"batch {batch}: created again{where}")


def named_batches(payload: Mapping[str, Any]) -> dict[str, str | None]:
    """Existing batches a signed statement names, with the prev it signed (None if it names none)."""
    if payload.get("type") == "transform":
        return {item.get("batch"): item.get("prev") for item in payload.get("inputs", [])}
    if "batch" in payload:
        return {payload["batch"]: payload.get("prev")}
    return {}


def created_batches(payload: Mapping[str, Any]) -> set[str]:
    return {item.get("batch") for item in payload.get("outputs", [])}
