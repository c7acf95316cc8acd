"""What a worker and the sequencer process send each other: JSON, not pickle.

A request is one worker request's statements, in order: for each, its
stored envelope (the canonical JSON text the ledger stores), the caller,
and the moment the checks were made against (`now`). The sequencer
process re-derives the rest itself, taking nothing on the worker's word:
the envelope and statement are parsed again from the stored envelope,
strictly, by the same cairn_core parsers (the stored form is the parsed
envelope's own canonical text), and the signatures are checked again by
the sequencer (provenance.append.checks.append_handed_over). A `now` that is not
the sequencer's own moment (later than it, or more than
CAIRN_APPEND_TIMEOUT earlier: the worker has stopped waiting by then) is
refused. An answer is each statement's outcome, in order: a
receipt and whether it was created, a LedgerError's code, message and
details, or an AppendFailed's message.

Nothing here is code or object state: a message that is not of this form
is a WireError, and the connection that sent it is dropped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

from django.conf import settings

from cairn_core import dsse
from cairn_core.payload import PayloadError, parse_statement
from provenance.append.pending import AppendFailed, AppendResult, Caller, Outcome, Pending, Receipt
from provenance.errors import LedgerError


class WireError(ValueError):
    """A message that is not a request or an answer of this protocol."""


def encode_request(pendings: list[Pending]) -> bytes:
    return _dumps([_pending_document(pending) for pending in pendings])


# How far a request's `now` may be ahead of the sequencer's clock (the same host's).
MAX_AHEAD = dt.timedelta(seconds=1)


def decode_request(data: bytes, *, received_at: dt.datetime) -> list[Pending]:
    """The statements of a request received at `received_at` (the sequencer's clock)."""
    try:
        pendings = [_pending(item) for item in _list(json.loads(data))]
    except (ValueError, TypeError, KeyError, RecursionError, dsse.EnvelopeError, PayloadError) as exc:
        raise WireError(f"not a request: {exc}") from exc
    oldest = received_at - dt.timedelta(seconds=settings.CAIRN_APPEND_TIMEOUT)
    for pending in pendings:
        if not oldest <= pending.now <= received_at + MAX_AHEAD:
            raise WireError(f"not a request: its moment {pending.now.isoformat()} is not {received_at.isoformat()}")
    return pendings


def encode_answer(outcomes: list[Outcome]) -> bytes:
    return _dumps([_outcome_document(outcome) for outcome in outcomes])


def decode_answer(data: bytes) -> list[Outcome]:
    try:
        return [_outcome(item) for item in _list(json.loads(data))]
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise WireError(f"not an answer: {exc}") from exc


def _dumps(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


# --- requests ----------------------------------------------------------------


def _pending_document(pending: Pending) -> dict[str, object]:
    caller = pending.caller
    return {
        "envelope": pending.stored_envelope,
        "caller": [caller.organization, list(caller.roles), caller.user_id, caller.token],
        "now": pending.now.isoformat(),
    }


def _pending(item: object) -> Pending:
    document = _mapping(item)
    envelope = dsse.parse_envelope(_str(document["envelope"]).encode("utf-8"))
    now = dt.datetime.fromisoformat(_str(document["now"]))
    if now.tzinfo is None:
        raise ValueError("a moment without its time zone")
    return Pending(
        envelope=envelope,
        statement=parse_statement(envelope.payload),
        caller=_caller(document["caller"]),
        now=now,
        stored=envelope.stored_json(),
    )


def _caller(value: object) -> Caller:
    organization, roles, user_id, token = _list(value)
    return Caller(
        _str(organization),
        tuple(_str(role) for role in _list(roles)),
        None if user_id is None else _int(user_id),
        None if token is None else _str(token),
    )


# --- answers -------------------------------------------------------------------


def _outcome_document(outcome: Outcome) -> dict[str, object]:
    if isinstance(outcome, AppendResult):
        return {"receipt": outcome.receipt.as_body(), "created": outcome.created}
    if isinstance(outcome, LedgerError):
        return {"error": {"code": outcome.code, "message": outcome.message, "extra": outcome.extra}}
    return {"failed": str(outcome)}


def _outcome(item: object) -> Outcome:
    document = _mapping(item)
    if "receipt" in document:
        return AppendResult(_receipt(document["receipt"]), created=document["created"] is True)
    if "error" in document:
        error = _mapping(document["error"])
        return LedgerError(_str(error["code"]), _str(error["message"]), **_mapping(error["extra"]))
    return AppendFailed(_str(document["failed"]))


def _receipt(value: object) -> Receipt:
    body = _mapping(value)
    index = body["index"]
    return Receipt(
        entry_hash=_str(body["entry_hash"]),
        integrated_time=_int(body["integrated_time"]),
        leaf_hash=_str(body["leaf_hash"]),
        index=None if index is None else _int(index),
    )


# --- JSON values of the expected kind ----------------------------------------


def _mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, not {type(value).__name__}")
    return value


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, not {type(value).__name__}")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {type(value).__name__}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, not {type(value).__name__}")
    return value
