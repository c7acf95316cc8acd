"""The body of a batch submission (contract §9): its envelopes, byte for byte.

`POST /attestations/batch` takes `{"envelopes": [<envelope>, ...]}`. Each
envelope must be checked exactly as if it had been posted alone, so this
module does not hand the write path parsed objects: it finds where each
envelope's JSON text starts and ends in the body, and gives the write path
those bytes. An envelope with a duplicate key, NaN, a bad base64 string or
more than 64 KiB is then refused by the very checks that refuse it in a
single POST, with the same code, and only that envelope is refused.

The body itself must be a JSON object whose only member is `envelopes`, a
list of 1 to MAX_ENVELOPES values; anything else is `invalid_payload` and
nothing is appended. (The 16 MiB limit on the whole body is checked before
it is read, by provenance.api.middleware.)
"""

from __future__ import annotations

import json
import re

from provenance.append.pending import AppendFailed, AppendResult, Outcome
from provenance.errors import LedgerError

MAX_ENVELOPES = 1000

_SPACE = re.compile(r"[ \t\n\r]*")
# Only finds where each value ends; the envelope's own checks parse it strictly.
# Numbers are kept as their text: converting one of thousands of digits would
# raise (Python's int limit), and their value is of no use here.
_VALUE = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)


def envelopes_of(body: bytes) -> list[bytes]:
    """Each envelope's bytes as they stand in the body, in order."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid("The body is not UTF-8 JSON.") from exc
    try:
        spans = _envelope_spans(text)
    except (json.JSONDecodeError, RecursionError, IndexError) as exc:
        raise _invalid("The body is not JSON.") from exc
    if spans is None:
        raise _invalid('The body must be a JSON object with exactly one member, "envelopes".')
    if not 1 <= len(spans) <= MAX_ENVELOPES:
        raise _invalid(f"envelopes must hold 1 to {MAX_ENVELOPES} envelopes, not {len(spans)}.")
    return [text[start:end].encode("utf-8") for start, end in spans]


def _invalid(message: str) -> LedgerError:
    return LedgerError("invalid_payload", message)


def _skip(text: str, position: int) -> int:
    space = _SPACE.match(text, position)
    return position if space is None else space.end()  # it matches everywhere, if only nothing


def _expect(text: str, position: int, char: str) -> int:
    position = _skip(text, position)
    if text[position : position + 1] != char:
        raise json.JSONDecodeError(f"expected {char!r}", text, position)
    return position + 1


Spans = list[tuple[int, int]]


def _envelope_spans(text: str) -> Spans | None:
    """The (start, end) of each element of the body's `envelopes` list, or
    None when the body is JSON but not an object with that one member."""
    position = _skip(text, 0)
    if text[position : position + 1] != "{":
        _VALUE.raw_decode(text, position)  # JSON that is not an object: None; not JSON: raises
        return None
    position += 1
    spans: Spans | None = None
    members = 0
    position = _skip(text, position)
    if text[position : position + 1] == "}":
        return _end(text, position + 1, None)
    while True:
        position = _skip(text, position)
        key, position = _VALUE.raw_decode(text, position)
        if not isinstance(key, str):
            raise json.JSONDecodeError("a member's name is a string", text, position)
        position = _skip(text, _expect(text, position, ":"))
        members += 1
        if key == "envelopes" and text[position : position + 1] == "[":
            spans, position = _list_spans(text, position + 1)
        else:
            _, position = _VALUE.raw_decode(text, position)
            spans = None if key == "envelopes" else spans
        position = _skip(text, position)
        if text[position : position + 1] == ",":
            position += 1
            continue
        position = _expect(text, position, "}")
        return _end(text, position, spans if members == 1 else None)


def _list_spans(text: str, position: int) -> tuple[Spans, int]:
    spans: Spans = []
    position = _skip(text, position)
    if text[position : position + 1] == "]":
        return spans, position + 1
    while True:
        start = _skip(text, position)
        _, end = _VALUE.raw_decode(text, start)
        spans.append((start, end))
        position = _skip(text, end)
        if text[position : position + 1] == ",":
            position += 1
            continue
        return spans, _expect(text, position, "]")


def _end(text: str, position: int, spans: Spans | None) -> Spans | None:
    if _skip(text, position) != len(text):
        raise json.JSONDecodeError("extra data after the body", text, position)
    return spans


def caller_refused(outcomes: list[Outcome]) -> LedgerError | None:
    """The one `not_authenticated` the whole request answers (contract §9:
    authentication is the request's, as for a single POST) when the append
    found the caller's token gone (revoked, its user deactivated, while a
    web worker still remembered it) and so logged none of the envelopes.
    Had any landed (the token revoked between two transactions of the
    group commit), each envelope keeps its own result, receipts included."""
    refused = [o for o in outcomes if isinstance(o, LedgerError) and o.code == "not_authenticated"]
    if refused and not any(isinstance(o, AppendResult) for o in outcomes):
        return refused[0]
    return None


def result_body(outcome: Outcome) -> dict[str, object]:
    """One envelope's result: `{"status", "entry"}` or `{"status", "error"}`.
    One the server could not write (its transaction rolled back: nothing of
    it is stored) is answered as that envelope's own 500, so that the
    batch's other envelopes still get their receipts (docs/decisions.md,
    "Batch submission")."""
    if isinstance(outcome, AppendFailed):
        return {"status": 500, "error": {"code": "server_error", "message": NOT_WRITTEN}}
    if isinstance(outcome, LedgerError):
        return {"status": outcome.status, **outcome.as_body()}
    return {"status": outcome.status, "entry": outcome.as_body()}


def validation_body(outcome: Outcome) -> dict[str, object]:
    """One envelope's result from POST /attestations/validate: as
    `result_body`, but a would-be 201 is `{"status": 201, "entry_hash"}`
    (nothing was logged, so there is no index, time nor leaf)."""
    if isinstance(outcome, AppendResult) and outcome.created:
        return {"status": 201, "entry_hash": outcome.receipt.entry_hash}
    return result_body(outcome)


NOT_WRITTEN = (
    "Cairn could not write this statement (the failure is logged for the operator); nothing of it was "
    "stored. The batch's other envelopes were each answered on their own."
)
