"""Every change of the rule data is a `rules` ledger entry (contract §12).

    with rule_change(reason=…, source=…, by=…):
        ...edit agreements, schedules, credit terms, FEOC rules or designations,
           or §45X's classes, thresholds and PFE designations...

runs the edit and appends its `rules` entries in one transaction: one for
each regime whose rule data the edit changed, with the rows changed
(before and after, as the regime's documented JSON form), the reason, the
source, who, and the digest of the regime's whole rule data after it.
Either all commit or none. A change with no reason or no source is refused
before anything is written.

The rule data is every regime's (`rule_data()`): §30D's RuleSet
(`cairn_core.regimes.s30d.ruleset_json`: tables "agreements", "percentages", "feoc", …;
its entries name no regime) and each other regime's rule document under
its name (§45X's, `material_assistance.rule_data`: tables "thresholds",
"designations", …, in entries that say `"regime": "45x"` and whose
version and sha256 are the document's version).

The admin's rule pages (agreements.admin and material_assistance.admin,
through the settings CAIRN_RULE_DATA_READER and CAIRN_RULE_CHANGE_RECORDER,
so that the rules apps need no import of the ledger), `manage.py
record_rule_change` (after a data migration) and the demo go through
here. Rule data changed any other way (direct SQL) no longer matches the
latest entry: the integrity checks raise `rules_data` and verifications
refuse to use it (audit.engine.check_rules_logged).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from django.db import transaction

from agreements.snapshot import load_ruleset
from cairn_core.regimes.s30d import rules, ruleset_json
from provenance import ledger_entries
from provenance.linking import relink, relink_changed
from provenance.models import Entry


class RuleChangeRefused(ValueError):
    """A change of the rule data without its reason or its source."""


@contextlib.contextmanager
def rule_change(*, reason: str, source: str, by: str) -> Iterator[None]:
    """Run the edit in the block, then log it; nothing is written without a reason and a source."""
    _require(reason, source)
    with transaction.atomic():
        before = rule_data()
        yield
        record_change(before=before, reason=reason, source=source, by=by)


def record_change(*, before: Mapping[str, Any], reason: str, source: str, by: str) -> Entry | None:
    """The `rules` entries of an edit made in this transaction, from the rule
    data's JSON before it (`rule_data()`: the admin's recorder,
    CAIRN_RULE_CHANGE_RECORDER): one per regime it changed, or whose rule
    data the log does not record yet. The last appended; None when the edit
    changed nothing the log does not already record."""
    _require(reason, source)
    ruleset = load_ruleset()
    after = rule_data(ruleset)
    appended = None
    for regime in REGIMES:
        changes = differences(part(before, regime), part(after, regime))
        if not changes and _logged(regime, after):
            continue
        fields = ledger_entries.rules_fields(reason=reason, source=source, by=by, changes=changes, regime=regime)
        appended = ledger_entries.append("rules", fields)
        if regime is None:
            # The entries' agreement links follow the rules they are derived from, in
            # the same transaction: those of the entries the change can move.
            relink_changed(ruleset_json.from_json(part(before, None)), ruleset)
    return appended


# §30D's rule data (None: its entries name no regime), then each other regime's.
REGIMES: tuple[str | None, ...] = (None, *ledger_entries.REGIME_RULES)


def rule_data(ruleset: rules.RuleSet | None = None) -> dict[str, Any]:
    """Every regime's rule data as one JSON document (the admin's reader,
    CAIRN_RULE_DATA_READER): §30D's RuleSet as `ruleset_json` writes it, and
    each other regime's rule document under the regime's name ("45x")."""
    ruleset = ruleset or load_ruleset()
    regimes = {name: read() for name, read in ledger_entries.REGIME_RULES.items()}
    return {**ruleset_json.to_json(ruleset), **regimes}


def part(document: Mapping[str, Any], regime: str | None) -> dict[str, Any]:
    """One regime's rule data in `rule_data()`'s document (None: §30D's)."""
    if regime is not None:
        return dict(document.get(regime) or {})
    return {name: value for name, value in document.items() if name not in ledger_entries.REGIME_RULES}


def _digest(regime: str | None, document: Mapping[str, Any]) -> str:
    """What a regime's `rules` entry records as `sha256` for this rule data."""
    if regime is None:
        return ruleset_json.json_digest(part(document, None))  # the RuleSet's digest: this is its JSON
    return str(document[regime]["version"])


def _logged(regime: str | None, document: Mapping[str, Any]) -> bool:
    """Whether the regime's latest rules entry records this rule data."""
    logged = ledger_entries.latest_rules_digest(regime)
    return logged is not None and logged[1] == _digest(regime, document)


def record_current(*, reason: str, source: str, by: str) -> Entry | None:
    """A `rules` entry for each regime's rule data as it stands, when the log
    does not record it yet (after a data migration: `manage.py
    record_rule_change`); the last appended, None when the log records it
    all. Its change names the digests before and after."""
    _require(reason, source)
    with transaction.atomic():
        document = rule_data()
        appended = None
        for regime in REGIMES:
            if _logged(regime, document):
                continue
            logged = ledger_entries.latest_rules_digest(regime)
            change = {
                "table": "rule set",
                "row": "sha256",
                "before": logged[1] if logged else None,
                "after": _digest(regime, document),
            }
            fields = ledger_entries.rules_fields(reason=reason, source=source, by=by, changes=[change], regime=regime)
            appended = ledger_entries.append("rules", fields)
            if regime is None:
                relink()
        return appended


def _require(reason: str, source: str) -> None:
    if not (reason or "").strip() or not (source or "").strip():
        raise RuleChangeRefused("a change of the rule data needs a reason and a source")


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows that differ between two JSON forms of one regime's rule data, section by section.

    A section that is a list is compared row by row, each row named by
    `ROW_NAMES` (an agreement by its `slug`, a FEOC designation by its
    `organization`, a schedule by its dates, a §45X threshold by its class
    and first day, a PFE designation by its entity and first day) or its
    position; any other section is one row. The version is not a row.
    """
    changes = []
    for table in sorted(set(before) | set(after)):
        if table == "version":
            continue
        old, new = before.get(table), after.get(table)
        if isinstance(old, list) and isinstance(new, list):
            changes += _row_changes(table, old, new)
        elif old != new:
            changes.append({"table": table, "row": table, "before": old, "after": new})
    return changes


# The fields naming a row of a list section, tried in order (the first
# present names it); §45X's rows by their class, entity and first day.
ROW_NAMES = (
    ("slug",),
    ("organization",),
    ("placed_in_service_from",),
    ("entity", "from"),
    ("class", "sold_from"),
    ("class",),
)


def _row_changes(table: str, old: list[Any], new: list[Any]) -> list[dict[str, Any]]:
    before, after = _keyed(old), _keyed(new)
    return [
        {"table": table, "row": key, "before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def _keyed(rows: list[Any]) -> dict[str, Any]:
    keyed = {}
    for position, row in enumerate(rows):
        key = str(position)
        if isinstance(row, dict):
            for names in ROW_NAMES:
                if all(name in row for name in names):
                    key = " ".join(str(row[name]) for name in names)
                    break
        elif isinstance(row, str):
            key = row
        while key in keyed:  # two rows with one name: keep both
            key += "'"
        keyed[key] = row
    return keyed
