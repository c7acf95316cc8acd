"""The §45X rule data (docs/contract-45x.md, "The rule data"): one JSON document.

    {"regime": "45x",
     "component_classes": [{"class", "components": [...], "source", "confirmed"}],
     "thresholds": [{"class", "sold_from", "sold_through" | null, "percent", "source", "confirmed"}],
     "designations": [{"entity", "name", "kind", "basis", "from", "until" | null, "source", "confirmed"}],
     "status_date": {"rule", "source", "confirmed", ["years": [{"year", "rule", "source", "confirmed"}]]},
     "existing_contract": {"binding_before", "sold_before", "source", "confirmed"},
     "version": "<hex SHA-256 of the canonical JSON of everything above>"}

The Django side (`material_assistance`) produces it from its tables; the
verdict and the offline verifier read it here and nowhere else. Reading is
strict: an unknown or missing field, a wrong type, a date that is not one,
a percent that is not a decimal string, two threshold rows of one class
that overlap, or a `version` that is not the document's own digest is a
`RulesError`. `to_json(from_json(document)) == document`, so the version
that a verdict signs is the digest of the very document a bundle carries.

Every figure carries its `source` and a `confirmed` flag: figures that
docs/domain.md marks secondary stay `confirmed: false` until checked
against the statute, and a verdict shows the flag beside the figure.

No Django import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from cairn_core import dsse

REGIME = "45x"
DESIGNATION_KINDS = ("specified", "foreign_influenced")
STATUS_RULES = ("last_day_of_taxable_year", "first_day_of_taxable_year")
# The class of a batch created by an origin (it carries minerals, not a component).
CRITICAL_MINERAL = "critical_mineral"
_DATE = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")
_PERCENT = re.compile(r"\A(0|[1-9][0-9]{0,2})(\.[0-9]{1,6})?\Z")
_SLUG = re.compile(r"\A[a-z0-9][a-z0-9-]{1,62}\Z")
_NAME = re.compile(r"\A[a-z][a-z0-9_]{1,62}\Z")
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")

T = TypeVar("T")


class RulesError(ValueError):
    """Not a §45X rule data document."""


@dataclass(frozen=True)
class Sourced:
    """Where a figure comes from, and whether it was checked against the statute."""

    source: str
    confirmed: bool

    def as_json(self) -> dict[str, object]:
        return {"source": self.source, "confirmed": self.confirmed}


@dataclass(frozen=True)
class ComponentClass:
    """An eligible component class of §45X and the statement `component` values that are it."""

    name: str
    components: tuple[str, ...]
    sourced: Sourced


@dataclass(frozen=True)
class Threshold:
    """The MACR a component of `component_class` sold in [sold_from, sold_through] must reach."""

    component_class: str
    sold_from: dt.date
    sold_through: dt.date | None
    percent: Decimal
    sourced: Sourced

    def covers(self, sold_on: dt.date) -> bool:
        return self.sold_from <= sold_on and (self.sold_through is None or sold_on <= self.sold_through)


@dataclass(frozen=True)
class Designation:
    """An entity designated a prohibited foreign entity from `start` until (not including) `until`."""

    entity: str
    name: str
    kind: str  # "specified" or "foreign_influenced"
    basis: str  # the list that names it, or the test that made it so
    start: dt.date
    until: dt.date | None
    sourced: Sourced

    def applies_on(self, day: dt.date) -> bool:
        return self.start <= day and (self.until is None or day < self.until)


@dataclass(frozen=True)
class YearRule:
    """A taxable year whose status date the rule data sets otherwise than the general rule."""

    year: int
    rule: str
    sourced: Sourced


@dataclass(frozen=True)
class StatusDate:
    rule: str
    sourced: Sourced
    years: tuple[YearRule, ...] = ()

    def rule_for(self, year: int) -> tuple[str, Sourced]:
        for item in self.years:
            if item.year == year:
                return item.rule, item.sourced
        return self.rule, self.sourced


@dataclass(frozen=True)
class ExistingContract:
    """Components under a binding written contract before `binding_before`, sold before `sold_before`."""

    binding_before: dt.date
    sold_before: dt.date
    sourced: Sourced

    def excepts(self, binding_contract_on: dt.date | None, sold_on: dt.date) -> bool:
        return (
            binding_contract_on is not None and binding_contract_on < self.binding_before and sold_on < self.sold_before
        )


@dataclass(frozen=True)
class Rules:
    """One version of the §45X rule data."""

    component_classes: tuple[ComponentClass, ...]
    thresholds: tuple[Threshold, ...]
    designations: tuple[Designation, ...]
    status_date: StatusDate
    existing_contract: ExistingContract
    version: str

    def component_class(self, component: str) -> ComponentClass | None:
        """The class a statement's `component` (or CRITICAL_MINERAL) belongs to, if eligible."""
        for item in self.component_classes:
            if component in item.components:
                return item
        return None

    def threshold(self, component_class: str, sold_on: dt.date) -> Threshold | None:
        """The threshold row of the class covering the date sold (rows of a class never overlap)."""
        for row in self.thresholds:
            if row.component_class == component_class and row.covers(sold_on):
                return row
        return None

    def status_date_of(self, taxable_year: int) -> tuple[dt.date, str, Sourced]:
        """The day on which PFE status is judged for a (calendar) taxable year, its rule and source."""
        rule, sourced = self.status_date.rule_for(taxable_year)
        day = dt.date(taxable_year, 12, 31) if rule == "last_day_of_taxable_year" else dt.date(taxable_year, 1, 1)
        return day, rule, sourced

    def designations_of(self, entity: str, taxable_year: int) -> list[Designation]:
        """The designations of `entity` that apply to the taxable year (judged on its status date)."""
        day, _rule, _sourced = self.status_date_of(taxable_year)
        return [item for item in self.designations if item.entity == entity and item.applies_on(day)]

    def with_designation(self, designation: Designation) -> Rules:
        """These rules with one more designation (a what-if; its version says so)."""
        return _replaced(self, (*self.designations, designation), f"+designate:{designation.entity}")

    def without_designations(self, entity: str) -> Rules:
        """These rules with no designation of `entity` (a what-if; its version says so)."""
        kept = tuple(item for item in self.designations if item.entity != entity)
        return _replaced(self, kept, f"-designate:{entity}")


def _replaced(rules: Rules, designations: tuple[Designation, ...], change: str) -> Rules:
    return Rules(
        rules.component_classes,
        rules.thresholds,
        designations,
        rules.status_date,
        rules.existing_contract,
        rules.version + change,
    )


# --- JSON ---------------------------------------------------------------------------


def body_json(rules: Rules) -> dict[str, object]:
    """The document without its version: what the version is the digest of."""
    return {
        "regime": REGIME,
        "component_classes": [
            {"class": item.name, "components": list(item.components), **item.sourced.as_json()}
            for item in rules.component_classes
        ],
        "thresholds": [
            {
                "class": row.component_class,
                "sold_from": row.sold_from.isoformat(),
                "sold_through": _iso(row.sold_through),
                "percent": str(row.percent),
                **row.sourced.as_json(),
            }
            for row in rules.thresholds
        ],
        "designations": [
            {
                "entity": item.entity,
                "name": item.name,
                "kind": item.kind,
                "basis": item.basis,
                "from": item.start.isoformat(),
                "until": _iso(item.until),
                **item.sourced.as_json(),
            }
            for item in rules.designations
        ],
        "status_date": _status_json(rules.status_date),
        "existing_contract": {
            "binding_before": rules.existing_contract.binding_before.isoformat(),
            "sold_before": rules.existing_contract.sold_before.isoformat(),
            **rules.existing_contract.sourced.as_json(),
        },
    }


def _status_json(status: StatusDate) -> dict[str, object]:
    document: dict[str, object] = {"rule": status.rule, **status.sourced.as_json()}
    if status.years:  # absent when empty, so that documents without it keep their digest
        document["years"] = [{"year": item.year, "rule": item.rule, **item.sourced.as_json()} for item in status.years]
    return document


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


def version_of(body: Mapping[str, object]) -> str:
    """Hex SHA-256 of the canonical JSON (sorted keys, no spaces, ASCII) of the document without its version."""
    return hashlib.sha256(dsse.canonical_json(body).encode("ascii")).hexdigest()


def to_json(rules: Rules) -> dict[str, object]:
    return {**body_json(rules), "version": rules.version}


def build(
    component_classes: tuple[ComponentClass, ...],
    thresholds: tuple[Threshold, ...],
    designations: tuple[Designation, ...],
    status_date: StatusDate,
    existing_contract: ExistingContract,
) -> Rules:
    """Rules whose version is their own digest (what the loader of the rule data tables calls)."""
    unversioned = Rules(component_classes, thresholds, designations, status_date, existing_contract, "")
    return from_json({**body_json(unversioned), "version": version_of(body_json(unversioned))})


def from_json(document: object) -> Rules:
    """The rules a document describes; RulesError naming the first fault."""
    obj = _object(
        document,
        "rules",
        {"regime", "component_classes", "thresholds", "designations", "status_date", "existing_contract", "version"},
    )
    if obj["regime"] != REGIME:
        raise RulesError(f'rules: regime is not "{REGIME}"')
    rules = Rules(
        component_classes=_list(obj["component_classes"], "component_classes", _component_class),
        thresholds=_list(obj["thresholds"], "thresholds", _threshold),
        designations=_list(obj["designations"], "designations", _designation),
        status_date=_status_date(obj["status_date"]),
        existing_contract=_existing_contract(obj["existing_contract"]),
        version=_match(obj["version"], _HEX64, "version", "a lowercase hex SHA-256"),
    )
    _check_coherent(rules)
    body = {key: value for key, value in obj.items() if key != "version"}
    if version_of(body) != rules.version:
        raise RulesError("rules: version is not the SHA-256 of the document's canonical JSON")
    if body_json(rules) != body:  # cannot differ once parsed; kept so that a change of layout cannot pass unseen
        raise RulesError("rules: the document does not read back as itself")
    return rules


def _check_coherent(rules: Rules) -> None:
    names = [item.name for item in rules.component_classes]
    if len(set(names)) != len(names):
        raise RulesError("rules: a component class is listed twice")
    components = [component for item in rules.component_classes for component in item.components]
    if len(set(components)) != len(components):
        raise RulesError("rules: a component belongs to two classes")
    for row in rules.thresholds:
        if row.component_class not in names:
            raise RulesError(f"rules: a threshold names the unknown class {row.component_class!r}")
        if row.sold_through is not None and row.sold_through < row.sold_from:
            raise RulesError(f"rules: a {row.component_class} threshold ends before it starts")
    for first in rules.thresholds:
        for second in rules.thresholds:
            if first is not second and first.component_class == second.component_class and _overlap(first, second):
                raise RulesError(f"rules: two {first.component_class} thresholds cover {second.sold_from}")
    for item in rules.designations:
        if item.until is not None and item.until <= item.start:
            raise RulesError(f"rules: the designation of {item.entity} ends before it starts")
    years = [item.year for item in rules.status_date.years]
    if len(set(years)) != len(years):
        raise RulesError("rules: a taxable year's status date is set twice")


def _overlap(first: Threshold, second: Threshold) -> bool:
    return first.covers(second.sold_from) or second.covers(first.sold_from)


# --- readers ----------------------------------------------------------------------


def _object(value: object, where: str, required: set[str], optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RulesError(f"{where}: expected an object")
    missing, unknown = required - value.keys(), value.keys() - required - optional
    if missing or unknown:
        raise RulesError(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    return value


def _list(value: object, where: str, reader: Callable[[object, str], T]) -> tuple[T, ...]:
    if not isinstance(value, list):
        raise RulesError(f"{where}: expected a list")
    return tuple(reader(item, f"{where}[{number}]") for number, item in enumerate(value))


def _match(value: object, pattern: re.Pattern[str], where: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise RulesError(f"{where}: expected {what}")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RulesError(f"{where}: expected a non-empty string")
    return value


def _date(value: object, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(_match(value, _DATE, where, "a date YYYY-MM-DD"))
    except ValueError as exc:
        raise RulesError(f"{where}: not a real date ({exc})") from exc


def _optional_date(value: object, where: str) -> dt.date | None:
    return None if value is None else _date(value, where)


def _sourced(obj: Mapping[str, Any], where: str) -> Sourced:
    if not isinstance(obj["confirmed"], bool):
        raise RulesError(f"{where}.confirmed: expected true or false")
    return Sourced(_text(obj["source"], f"{where}.source"), obj["confirmed"])


SOURCED = {"source", "confirmed"}


def _component_class(value: object, where: str) -> ComponentClass:
    obj = _object(value, where, {"class", "components"} | SOURCED)
    components = obj["components"]
    if not isinstance(components, list) or not components:
        raise RulesError(f"{where}.components: expected a non-empty list")
    return ComponentClass(
        _match(obj["class"], _NAME, f"{where}.class", "a class name"),
        tuple(_match(item, _NAME, f"{where}.components", "component names") for item in components),
        _sourced(obj, where),
    )


def _threshold(value: object, where: str) -> Threshold:
    obj = _object(value, where, {"class", "sold_from", "sold_through", "percent"} | SOURCED)
    percent = Decimal(_match(obj["percent"], _PERCENT, f"{where}.percent", 'a percentage string such as "60"'))
    if percent > 100:
        raise RulesError(f"{where}.percent: above 100")
    return Threshold(
        _match(obj["class"], _NAME, f"{where}.class", "a class name"),
        _date(obj["sold_from"], f"{where}.sold_from"),
        _optional_date(obj["sold_through"], f"{where}.sold_through"),
        percent,
        _sourced(obj, where),
    )


def _designation(value: object, where: str) -> Designation:
    obj = _object(value, where, {"entity", "name", "kind", "basis", "from", "until"} | SOURCED)
    if obj["kind"] not in DESIGNATION_KINDS:
        raise RulesError(f"{where}.kind: expected one of {', '.join(DESIGNATION_KINDS)}")
    return Designation(
        _match(obj["entity"], _SLUG, f"{where}.entity", "an organisation slug"),
        _text(obj["name"], f"{where}.name"),
        obj["kind"],
        _text(obj["basis"], f"{where}.basis"),
        _date(obj["from"], f"{where}.from"),
        _optional_date(obj["until"], f"{where}.until"),
        _sourced(obj, where),
    )


def _status_date(value: object) -> StatusDate:
    obj = _object(value, "status_date", {"rule"} | SOURCED, frozenset({"years"}))
    years = obj.get("years", [])
    if "years" in obj and (not isinstance(years, list) or not years):
        raise RulesError("status_date.years: expected a non-empty list (or no years field)")
    return StatusDate(
        _status_rule(obj["rule"], "status_date.rule"),
        _sourced(obj, "status_date"),
        _list(years, "status_date.years", _year_rule),
    )


def _status_rule(value: object, where: str) -> str:
    if value not in STATUS_RULES:
        raise RulesError(f"{where}: expected one of {', '.join(STATUS_RULES)}")
    return str(value)


def _year_rule(value: object, where: str) -> YearRule:
    obj = _object(value, where, {"year", "rule"} | SOURCED)
    year = obj["year"]
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        raise RulesError(f"{where}.year: expected a year")
    return YearRule(year, _status_rule(obj["rule"], f"{where}.rule"), _sourced(obj, where))


def _existing_contract(value: object) -> ExistingContract:
    obj = _object(value, "existing_contract", {"binding_before", "sold_before"} | SOURCED)
    return ExistingContract(
        _date(obj["binding_before"], "existing_contract.binding_before"),
        _date(obj["sold_before"], "existing_contract.sold_before"),
        _sourced(obj, "existing_contract"),
    )
