"""Every change of the rule data is a `rules` ledger entry (contract §12).

    with rule_change(reason=…, source=…, by=…):
        ...edit agreements, schedules, credit terms, FEOC rules or designations...

runs the edit and appends its `rules` entry in one transaction: the rows
changed (before and after, as the rule data's documented JSON form,
`rule_data()`), the reason, the source, who, and the SHA-256 of the whole
§30D rule set after it. Either both commit or neither. A change with no
reason or no source is refused before anything is written.

The rule data is every regime's: §30D's RuleSet (`cairn_core.ruleset_json`:
tables "agreements", "percentages", "feoc", …) and each other regime's rule
document under its name (§45X's, `material_assistance.rule_data`: tables
"45x.thresholds", "45x.designations", …, and its new version as the row
"version" of the table "45x", `ledger_entries.rules_fields`).

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
from cairn_core import rules, ruleset_json
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
    """The `rules` entry of an edit made in this transaction, from the rule
    data's JSON before it (`rule_data()`: the admin's recorder,
    CAIRN_RULE_CHANGE_RECORDER). None when the edit changed nothing the log
    does not already record."""
    _require(reason, source)
    ruleset = load_ruleset()
    changes = differences(before, rule_data(ruleset))
    if not changes and _logged(ruleset):
        return None
    fields = ledger_entries.rules_fields(reason=reason, source=source, by=by, changes=changes)
    entry = ledger_entries.append("rules", fields)
    # The entries' agreement links follow the rules they are derived from, in
    # the same transaction: those of the entries the change can move.
    relink_changed(ruleset_json.from_json(_ruleset_part(before)), ruleset)
    return entry


def rule_data(ruleset: rules.RuleSet | None = None) -> dict[str, Any]:
    """Every regime's rule data as one JSON document (the admin's reader,
    CAIRN_RULE_DATA_READER): §30D's RuleSet as `ruleset_json` writes it, and
    each other regime's rule document under the regime's name ("45x")."""
    ruleset = ruleset or load_ruleset()
    regimes = {name: read() for name, read in ledger_entries.REGIME_RULES.items()}
    return {**ruleset_json.to_json(ruleset), **regimes}


def regime_of(table: str) -> str | None:
    """The regime a change's table belongs to ("45x" for "45x.thresholds"); None for §30D's tables."""
    name = table.split(".", 1)[0]
    return name if name in ledger_entries.REGIME_RULES else None


def _ruleset_part(document: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name not in ledger_entries.REGIME_RULES}


def _logged(ruleset: rules.RuleSet) -> bool:
    """Whether the log's latest rules entries record this rule data, every regime's."""
    logged = ledger_entries.latest_rules_digest()
    if logged is None or logged[1] != ruleset_json.digest(ruleset):
        return False
    return not ledger_entries.regime_version_changes()


def record_current(*, reason: str, source: str, by: str) -> Entry | None:
    """A `rules` entry for the rule data as it stands, when the log does not
    record it yet (after a data migration: `manage.py record_rule_change`);
    None when it already does. Its change names the digests before and after."""
    _require(reason, source)
    with transaction.atomic():
        ruleset = load_ruleset()
        if _logged(ruleset):
            return None
        logged = ledger_entries.latest_rules_digest()
        digest = ruleset_json.digest(ruleset)
        changes = []
        if logged is None or logged[1] != digest:
            changes.append(
                {"table": "rule set", "row": "sha256", "before": logged[1] if logged else None, "after": digest}
            )
        # Another regime's new version is added by rules_fields.
        fields = ledger_entries.rules_fields(reason=reason, source=source, by=by, changes=changes)
        entry = ledger_entries.append("rules", fields)
        relink()
        return entry


def _require(reason: str, source: str) -> None:
    if not (reason or "").strip() or not (source or "").strip():
        raise RuleChangeRefused("a change of the rule data needs a reason and a source")


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows that differ between two rule sets' JSON forms, section by section.

    A section that is a list is compared row by row, each row named by its
    `slug` (agreements), its `organization` (designations), its dates
    (schedules) or its position; any other section is one row. Another
    regime's document (under its name) is compared section by section the
    same way, its tables named "<regime>.<section>" ("45x.thresholds"),
    its rows by `ROW_NAMES`; its version is not a row (`rules_fields`
    records it).
    """
    changes = []
    for table in sorted(set(before) | set(after)):
        if table == "version":
            continue
        old, new = before.get(table), after.get(table)
        if table in ledger_entries.REGIME_RULES and isinstance(old, dict) and isinstance(new, dict):
            changes += [{**change, "table": f"{table}.{change['table']}"} for change in differences(old, new)]
        elif isinstance(old, list) and isinstance(new, list):
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
