"""Strict JSON: the one way Cairn reads JSON that someone else wrote.

Refused, whoever reads: text that is not UTF-8 or not JSON; an object with
a key twice; NaN, Infinity and -Infinity; a number written with more
than `max_digits` characters (its sign included), when the reader sets a
bound; nesting too deep for the parser's stack (`TooDeep`). A reader may also refuse
fractions (`floats=False`) or numbers altogether (`numbers=False`).

Each refusal is a `StrictJSONError` (a ValueError) naming what was wrong;
each reader wraps it in its own error (an envelope's, a payload's, a
bundle's) and adds its own limits on what the document holds (nesting,
strings a database cannot store). tests/vectors/strict_json.json lists
texts and whether the contract's strict JSON takes them.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn


class StrictJSONError(ValueError):
    """JSON that strict reading refuses."""


class TooDeep(StrictJSONError):
    """Nested deeper than the parser's stack allows."""


def loads(data: bytes | str, *, max_digits: int | None = None, floats: bool = True, numbers: bool = True) -> Any:  # noqa: ANN401  # a JSON document: its callers check its shape
    """`data` (UTF-8 bytes or text) parsed strictly; StrictJSONError if not."""

    def number(text: str) -> str:
        if not numbers:
            raise StrictJSONError("a number is not allowed here")
        if max_digits is not None and len(text) > max_digits:
            raise StrictJSONError(f"a number of {len(text)} characters (at most {max_digits})")
        return text

    def integer(text: str) -> int:
        return int(number(text))

    def fraction(text: str) -> float:
        if numbers and not floats:
            raise StrictJSONError(f"number {text[:24]} is not allowed: decimal amounts are strings")
        return float(number(text))

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_int=integer, parse_float=fraction
        )
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"not UTF-8: {exc}") from exc
    except RecursionError as exc:
        raise TooDeep("nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise StrictJSONError(str(exc)) from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise StrictJSONError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> NoReturn:
    raise StrictJSONError(f"{name} is not a JSON number")
