"""The §45X rule data as the JSON document the pure core reads (S45X design, section C).

    {"regime": "45x",
     "component_classes": [{"class", "components", "source", "confirmed"}, …],
     "thresholds": [{"class", "sold_from", "sold_through", "percent", "source", "confirmed"}, …],
     "designations": [{"entity", "name", "kind", "basis", "from", "until", "source", "confirmed"}, …],
     "status_date": {"rule", "source", "confirmed"},
     "existing_contract": {"binding_before", "sold_before", "source", "confirmed"},
     "version": <hex SHA-256 of the canonical JSON of everything above>}

Dates are `YYYY-MM-DD`, `null` stands for an open end, a percent is a
decimal string without the column's padding ("60", "62.5"). Lists are in
a fixed order (classes by name, thresholds by class and first day,
designations by entity and first day), so one rule data has one document
and one version. `document(as_of=moment)` reads the tables' history
(django-simple-history) as it stood then, so that the rules behind a past
verdict can be shown again. Rows' notes are not in the document: they are
context for people, not rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TypeVar

from cairn_core.regimes.s45x import rules as s45x_rules
from material_assistance import models

REGIME = "45x"

RULE_MODELS = (
    models.ComponentClass,
    models.MacrThreshold,
    models.PfeDesignation,
    models.StatusDateRule,
    models.ExistingContractException,
)

RuleRow = TypeVar(
    "RuleRow",
    models.ComponentClass,
    models.MacrThreshold,
    models.PfeDesignation,
    models.StatusDateRule,
    models.ExistingContractException,
)


def document(as_of: dt.datetime | None = None) -> dict[str, Any]:
    """The rule document (as it stood at `as_of`), its version included."""
    body: dict[str, Any] = {
        "regime": REGIME,
        "component_classes": [_component_class(row) for row in sorted(_rows(models.ComponentClass, as_of), key=_slug)],
        "thresholds": [
            _threshold(row)
            for row in sorted(
                _rows(models.MacrThreshold, as_of), key=lambda row: (row.component_class_id, row.sold_from)
            )
        ],
        "designations": [
            _designation(row)
            for row in sorted(_rows(models.PfeDesignation, as_of), key=lambda row: (row.entity, row.designated_from))
        ],
        "status_date": _status_date(_single(_rows(models.StatusDateRule, as_of), "status-date rule")),
        "existing_contract": _existing_contract(
            _single(_rows(models.ExistingContractException, as_of), "existing-contract exception")
        ),
    }
    return {**body, "version": version(body)}


def version(body: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of the document without its version (the core's one formula)."""
    return s45x_rules.version_of({name: value for name, value in body.items() if name != "version"})


def _rows(model: type[RuleRow], as_of: dt.datetime | None) -> Iterable[RuleRow]:
    if as_of is None:
        return model.objects.all()
    # django-simple-history is untyped; its historical rows carry the model's fields.
    historical: Iterable[RuleRow] = model.history.as_of(as_of)
    return historical


def _single(rows: Iterable[RuleRow], what: str) -> RuleRow:
    found = list(rows)
    if len(found) != 1:
        raise LookupError(f"expected one row of the §45X {what}, found {len(found)}")
    return found[0]


def _slug(row: models.ComponentClass) -> str:
    return row.slug


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def percent_text(value: Decimal) -> str:
    """A stored percent without the column's padding zeros: 60.00 -> "60", 62.50 -> "62.5"."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def _sourced(row: models.Sourced) -> dict[str, Any]:
    return {"source": row.source, "confirmed": row.confirmed}


def _component_class(row: models.ComponentClass) -> dict[str, Any]:
    return {"class": row.slug, "components": sorted(row.components), **_sourced(row)}


def _threshold(row: models.MacrThreshold) -> dict[str, Any]:
    return {
        "class": row.component_class_id,
        "sold_from": _day(row.sold_from),
        "sold_through": _day(row.sold_through),
        "percent": percent_text(row.percent),
        **_sourced(row),
    }


def _designation(row: models.PfeDesignation) -> dict[str, Any]:
    return {
        "entity": row.entity,
        "name": row.name,
        "kind": row.kind,
        "basis": row.basis,
        "from": _day(row.designated_from),
        "until": _day(row.until),
        **_sourced(row),
    }


def _status_date(row: models.StatusDateRule) -> dict[str, Any]:
    return {"rule": row.rule, **_sourced(row)}


def _existing_contract(row: models.ExistingContractException) -> dict[str, Any]:
    return {"binding_before": _day(row.binding_before), "sold_before": _day(row.sold_before), **_sourced(row)}
