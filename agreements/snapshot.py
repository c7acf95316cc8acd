"""Reading a `rules.RuleSet` from the rule tables, now or as of a past moment.

`load_ruleset()` reads every rule table once (eight small queries) into the
frozen dataclasses of `cairn_core.regimes.s30d.rules`. `load_ruleset(as_of=moment)`
reads the same tables from their history (django-simple-history), so that
the rules behind a past verdict can be reconstructed.

The RuleSet's `version` is a fingerprint of the history tables (row count,
last history id and last history date of each, up to `as_of`): any change
made through the models or the admin writes a history row and so changes
the version. (The date guards against SQLite reusing the ids of a rolled
back change. A bulk `QuerySet.update()` writes no history: rule data is
changed through the models or the admin only.) One
query computes it, which lets `current_ruleset()` keep a per-process copy
and reload it only when the rule data has changed.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import TypeVar

from django.db import connection

from agreements import models as rule_models
from agreements.rule_rows import agreement_rule, country_codes
from cairn_core.regimes.s30d import rules

RULE_MODELS = (
    rule_models.CriticalMineral,
    rule_models.TradeAgreement,
    rule_models.AgreementEvent,
    rule_models.ApplicablePercentage,
    rule_models.CreditParameters,
    rule_models.FeocRule,
    rule_models.FeocDesignation,
)

# A rule table's model; `_rows` gives its instances, or its historical rows
# (same fields, read the same way) as of a moment.
RuleRow = TypeVar(
    "RuleRow",
    rule_models.CriticalMineral,
    rule_models.TradeAgreement,
    rule_models.AgreementEvent,
    rule_models.ApplicablePercentage,
    rule_models.CreditParameters,
    rule_models.FeocRule,
    rule_models.FeocDesignation,
)
Row = TypeVar("Row")

_cached: rules.RuleSet | None = None


@functools.cache
def _history_tables() -> tuple[str, ...]:
    # `Model.history` builds a manager class on each access: read the names once.
    return tuple(model.history.model._meta.db_table for model in RULE_MODELS)


def rules_version(as_of: dt.datetime | None = None) -> str:
    """Fingerprint of the rule data (up to `as_of`), in one query."""
    # Scalar subqueries keep it to one round trip on every backend.
    quote = connection.ops.quote_name
    where, params = "", []
    if as_of is not None:
        where = " WHERE history_date <= %s"
    columns = []
    for table in _history_tables():
        table = quote(table)
        for aggregate in ("COUNT(*)", "MAX(history_id)", "MAX(history_date)"):
            columns.append(f"(SELECT {aggregate} FROM {table}{where})")
        if as_of is not None:
            params += [connection.ops.adapt_datetimefield_value(as_of)] * 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(columns), params)
        row = cursor.fetchone()
    return rules.fingerprint(str(value) for value in row)


def current_ruleset() -> rules.RuleSet:
    """The current rules, cached in this process until the rule data changes."""
    global _cached
    if _cached is None or _cached.version != rules_version():
        _cached = load_ruleset()
    return _cached


def load_ruleset(as_of: dt.datetime | None = None) -> rules.RuleSet:
    """Read every rule table (or its state at `as_of`) into a RuleSet."""
    # The version is read before and after the rows; if the rule data changed
    # in between, read again so that the version names the rows returned.
    for _attempt in range(3):
        version = rules_version(as_of)
        ruleset = _read_rules(as_of, version)
        if rules_version(as_of) == version:
            return ruleset
    return ruleset


def _rows(model: type[RuleRow], as_of: dt.datetime | None) -> Iterable[RuleRow]:
    if as_of is None:
        return model.objects.all()
    # django-simple-history is untyped; its historical rows carry the model's fields.
    historical: Iterable[RuleRow] = model.history.as_of(as_of)
    return historical


def _read_rules(as_of: dt.datetime | None, version: str) -> rules.RuleSet:
    minerals = list(_rows(rule_models.CriticalMineral, as_of))
    events_by_agreement: defaultdict[str, list[rule_models.AgreementEvent]] = defaultdict(list)
    for event in _rows(rule_models.AgreementEvent, as_of):
        events_by_agreement[event.agreement_id].append(event)
    agreements = sorted(_rows(rule_models.TradeAgreement, as_of), key=lambda item: item.slug)
    return rules.RuleSet(
        agreements=tuple(agreement_rule(item, events_by_agreement[item.slug]) for item in agreements),
        percentages=_percentages(_rows(rule_models.ApplicablePercentage, as_of)),
        credit=_credit(_single(_rows(rule_models.CreditParameters, as_of), "credit parameters")),
        feoc=_feoc(_single(_rows(rule_models.FeocRule, as_of), "FEOC rule")),
        designations=tuple(_designation(item) for item in _rows(rule_models.FeocDesignation, as_of)),
        minerals=frozenset(item.slug for item in minerals),
        battery_minerals=frozenset(item.slug for item in minerals if item.battery_relevant),
        version=version,
    )


def _single(rows: Iterable[Row], what: str) -> Row:
    found = list(rows)
    if len(found) != 1:
        raise LookupError(f"expected one row of {what}, found {len(found)}")
    return found[0]


def _plain(value: Decimal) -> Decimal:
    """A stored Decimal without the column's padding zeros: 50.00 -> 50, 62.50 -> 62.5."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _percentages(rows: Iterable[rule_models.ApplicablePercentage]) -> tuple[rules.PercentageRow, ...]:
    return tuple(
        rules.PercentageRow(
            placed_in_service_from=row.placed_in_service_from,
            placed_in_service_to=row.placed_in_service_to,
            critical_minerals_pct=_plain(row.critical_minerals_pct),
            battery_components_pct=_plain(row.battery_components_pct),
            source=row.source,
        )
        for row in sorted(rows, key=lambda item: item.placed_in_service_from)
    )


def _credit(row: rule_models.CreditParameters) -> rules.CreditTerms:
    return rules.CreditTerms(
        critical_minerals_usd=_plain(row.critical_minerals_usd),
        battery_components_usd=_plain(row.battery_components_usd),
        requirements_from=row.requirements_from,
        acquired_through=row.acquired_through,
        north_america=country_codes(row.north_america),
        source=row.source,
        cutoff_source=row.cutoff_source,
        credit_from=row.credit_from,
        value_added_test_through=row.value_added_test_through,
        battery_components=frozenset(row.battery_components) if row.battery_components is not None else None,
        citations=tuple(sorted(row.citations.items())) if row.citations else rules.CITATIONS,
        regulations_source=row.regulations_source,
    )


def _feoc(row: rule_models.FeocRule) -> rules.FeocTerms:
    return rules.FeocTerms(
        covered_nations=country_codes(row.covered_nations),
        components_from=row.components_from,
        minerals_from=row.minerals_from,
        control_threshold_pct=_plain(row.control_threshold_pct),
        impracticable_until=row.impracticable_until,
        impracticable_items=tuple(row.impracticable_items),
        source=row.source,
    )


def _designation(row: rule_models.FeocDesignation) -> rules.Designation:
    return rules.Designation(
        organization=row.organization,
        basis=row.basis,
        covered_nation=str(row.covered_nation),
        effective_from=row.effective_from,
        effective_to=row.effective_to,
        source=row.source,
    )
