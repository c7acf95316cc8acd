"""Statements and envelopes on the supplier's side: fill, sign, recognise.

A statement is the payload of contract §3 as a dict. `sign` fills
`issued_at` (now, when absent) and the issuer (when given and absent), and
wraps the payload's exact bytes in a DSSE envelope signed by each key.
`missing_prevs` names the batches whose `prev` is left to be filled from a
head (the server's, or one known locally).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core import dsse
from cairn_core.client import keys as keyfiles
from cairn_core.entries import stored_leaf_input
from cairn_core.payload import PAYLOAD_TYPE, SCHEMA, JSONObject, parse_statement

ENVELOPE_KEYS = {"payloadType", "payload", "signatures"}
# The statement types that name one existing batch, with its prev, at the top level.
ONE_BATCH_TYPES = ("transfer", "certify", "claim", "supplier_certification", "sale")

# A statement or envelope as the supplier hands it over: a JSON object read
# from a file, a dict built in code, or an envelope signed here (a
# StoredEnvelope). Its fields are read by trying (KeyError, TypeError) and
# checked by the server, as JSONObject's are.
Document: TypeAlias = Mapping[str, Any]


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_envelope(document: object) -> bool:
    return isinstance(document, dict) and set(document) == ENVELOPE_KEYS


def complete(statement: Document, *, issuer: str | None = None, issued_at: str | None = None) -> JSONObject:
    """A copy with `schema`, `issuer` and `issued_at` filled where absent."""
    filled = dict(statement)
    filled.setdefault("schema", SCHEMA)
    if issuer and not filled.get("issuer"):
        filled["issuer"] = issuer
    if not filled.get("issued_at"):
        filled["issued_at"] = issued_at or now_rfc3339()
    return filled


def named_batches(statement: JSONObject) -> list[tuple[JSONObject, str]]:
    """(the object carrying `prev`, batch id) for each existing batch the statement names."""
    if statement.get("type") == "transform":
        return [(item, item["batch"]) for item in statement.get("inputs") or [] if isinstance(item, dict)]
    if statement.get("type") in ONE_BATCH_TYPES and "batch" in statement:
        return [(statement, statement["batch"])]
    return []


def created_batches(statement: Document) -> list[str]:
    return [item["batch"] for item in statement.get("outputs") or [] if isinstance(item, dict) and "batch" in item]


def missing_prevs(statement: JSONObject) -> list[str]:
    return [batch for holder, batch in named_batches(statement) if not holder.get("prev")]


def fill_prevs(statement: Document, head_of: Callable[[str], str]) -> JSONObject:
    """A copy whose missing `prev` fields hold `head_of(batch)`."""
    filled: JSONObject = json.loads(json.dumps(statement))
    for holder, batch in named_batches(filled):
        if not holder.get("prev"):
            holder["prev"] = head_of(batch)
    return filled


def sign(
    statement: Document,
    key: Ed25519PrivateKey,
    *,
    cosigners: Iterable[Ed25519PrivateKey] = (),
    issuer: str | None = None,
) -> dsse.StoredEnvelope:
    """The DSSE envelope (as JSON-ready dict) of the completed statement.

    Nothing the grammar refuses is signed: PayloadError names the fault, as
    the server's `invalid_payload` would (the checks against the ledger,
    and the issued_at window, are the server's)."""
    return signed(statement, key, cosigners=cosigners, issuer=issuer)[0]


def signed(
    statement: Document,
    key: Ed25519PrivateKey,
    *,
    cosigners: Iterable[Ed25519PrivateKey] = (),
    issuer: str | None = None,
) -> tuple[dsse.StoredEnvelope, JSONObject, str]:
    """`sign`, with the completed statement it signs and its entry_hash
    (what a bulk signer needs next, without decoding the envelope again)."""
    completed = complete(statement, issuer=issuer)
    payload = json.dumps(completed, separators=(",", ":")).encode("utf-8")
    parse_statement(payload)
    signers = [(keyfiles.keyid(k), k) for k in (key, *cosigners)]
    envelope = dsse.sign(PAYLOAD_TYPE, payload, signers)
    return envelope.to_stored(), completed, envelope.entry_hash


def cosign(envelope: object, key: Ed25519PrivateKey) -> dsse.StoredEnvelope:
    """The envelope with one more signature, `key`'s, over the same PAE: a
    co-signer (a transfer's receiver, say) adds its own to an envelope signed
    elsewhere. The payload is untouched, so the entry_hash is unchanged.
    EnvelopeError if it is not an envelope or `key` has signed it already."""
    parsed = dsse.envelope_from_dict(envelope)
    keyid = keyfiles.keyid(key)
    if any(signature.keyid == keyid for signature in parsed.signatures):
        raise dsse.EnvelopeError(f"key {keyid} has signed this envelope already")
    signature = dsse.Signature(keyid, key.sign(parsed.pae))
    return dsse.Envelope(parsed.payload_type, parsed.payload, (*parsed.signatures, signature)).to_stored()


def entry_hash(envelope: object) -> str:
    """The entry_hash the ledger will give this envelope (SHA-256 of its PAE)."""
    return dsse.envelope_from_dict(envelope).entry_hash


def statement_of(envelope: object) -> JSONObject:
    """The statement an envelope signs (EnvelopeError if it is not one)."""
    statement: JSONObject = json.loads(dsse.envelope_from_dict(envelope).payload)
    return statement


def leaf_input(envelope: object, integrated_time: int) -> bytes:
    """The log's leaf input for a stored envelope (contract §4)."""
    return stored_leaf_input(dsse.envelope_from_dict(envelope).stored_json(), integrated_time)
