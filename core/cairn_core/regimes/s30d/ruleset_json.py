"""A `rules.RuleSet` as JSON: the `rules` section of a proof bundle (contract §8).

The layout is the RuleSet's own dataclasses, field by field, so that it
stays exactly the data the rule functions read:

    {"version": "rules-…",
     "agreements": [{"slug", "title", "kind", "parties": ["AU", …],
                     "counts_from": "YYYY-MM-DD", "ends": null, "covers_all",
                     "minerals": […], "events": [{"kind", "effective_from", …}], …}],
     "percentages": [{"placed_in_service_from", "placed_in_service_to",
                      "critical_minerals_pct": "50", "battery_components_pct": "60", …}],
     "credit": {…}, "feoc": {…}, "designations": […],
     "minerals": […], "battery_minerals": […]}

Dates are `YYYY-MM-DD`, Decimals strings, sets sorted lists, and `null`
stands for None. `to_json` and `from_json` are inverses, and
`digest` (SHA-256 of the canonical JSON) is what a verdict signs, so a
bundle's rules cannot be changed without the signed verdict saying so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import types
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

if typing.TYPE_CHECKING:
    from _typeshed import DataclassInstance

from cairn_core import dsse

# A rule's decimals are percentages and dollar amounts: no exponent beyond this (either way).
from cairn_core.regimes.s30d import rules

MAX_DECIMAL_EXPONENT = 30


class RulesError(ValueError):
    """The JSON is not a RuleSet in this layout."""


def to_json(ruleset: rules.RuleSet) -> dict[str, object]:
    """The RuleSet as plain JSON values."""
    return _encode_dataclass(ruleset)


def digest(ruleset: rules.RuleSet) -> str:
    """Hex SHA-256 of the RuleSet's canonical JSON."""
    return json_digest(to_json(ruleset))


def json_digest(document: Mapping[str, object]) -> str:
    return hashlib.sha256(dsse.canonical_json(document).encode("ascii")).hexdigest()


def from_json(document: object) -> rules.RuleSet:
    """The RuleSet a `to_json` document describes; RulesError names what is wrong."""
    try:
        ruleset: rules.RuleSet = _decode(rules.RuleSet, document, "rules")
        return ruleset
    except RulesError:
        raise
    except (TypeError, ValueError, KeyError, InvalidOperation) as exc:
        raise RulesError(f"rules: {exc}") from exc


def _encode(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_dataclass(value)
    if isinstance(value, frozenset | set):
        # A RuleSet's sets hold strings (slugs, countries, minerals, components).
        return sorted(typing.cast("list[str]", [_encode(item) for item in value]))
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _encode_dataclass(value: DataclassInstance) -> dict[str, object]:
    return {field.name: _encode(getattr(value, field.name)) for field in dataclasses.fields(value)}


@functools.cache
def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls, vars(rules))


def _decode(kind: object, value: object, where: str) -> typing.Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        [inner] = [arg for arg in args if arg is not type(None)]
        return _decode(inner, value, where)
    if dataclasses.is_dataclass(kind):
        return _decode_dataclass(kind, value, where)
    if origin in (frozenset, tuple):
        if not isinstance(value, list):
            raise RulesError(f"{where}: expected a list")
        kinds = _item_kinds(origin, args, len(value), where)
        items = [
            _decode(item_kind, item, f"{where}[{n}]")
            for n, (item_kind, item) in enumerate(zip(kinds, value, strict=True))
        ]
        return frozenset(items) if origin is frozenset else tuple(items)
    return _decode_scalar(kind, value, where)


def _item_kinds(origin: object, args: tuple[object, ...], length: int, where: str) -> list[object]:
    """Each item's type: one for all (a set, `tuple[X, ...]`), or one each (`tuple[X, Y]`, its length fixed)."""
    if origin is frozenset or (len(args) == 2 and args[1] is Ellipsis):
        return [args[0]] * length
    if length != len(args):
        raise RulesError(f"{where}: expected a list of {len(args)} items")
    return list(args)


def _decode_dataclass(cls: typing.Any, value: object, where: str) -> object:
    if not isinstance(value, dict):
        raise RulesError(f"{where}: expected an object")
    hints = _hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = set(value) - set(fields)
    if unknown:
        raise RulesError(f"{where}: unknown fields {sorted(unknown)}")
    arguments = {}
    for name, field in fields.items():
        if name in value:
            arguments[name] = _decode(hints[name], value[name], f"{where}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise RulesError(f"{where}: missing {name}")
    return cls(**arguments)


def _decode_scalar(kind: object, value: object, where: str) -> object:
    if kind is dt.date:
        if not isinstance(value, str):
            raise RulesError(f"{where}: expected a date")
        return dt.date.fromisoformat(value)
    if kind is Decimal:
        if not isinstance(value, str):
            raise RulesError(f"{where}: expected a decimal string")
        number = Decimal(value)
        if not number.is_finite() or abs(number.adjusted()) > MAX_DECIMAL_EXPONENT:
            raise RulesError(f"{where}: {value[:40]!r} is not a decimal Cairn's rules use")
        return number
    if kind is bool:
        if not isinstance(value, bool):
            raise RulesError(f"{where}: expected true or false")
        return value
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise RulesError(f"{where}: expected an integer")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise RulesError(f"{where}: expected a string")
        return value
    raise RulesError(f"{where}: no JSON form for {kind!r}")
