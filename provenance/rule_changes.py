"""Every change of the rule data is a `rules` ledger entry (contract §12).

    with rule_change(reason=…, source=…, by=…):
        ...edit agreements, schedules, credit terms, FEOC rules or designations...

runs the edit and appends its `rules` entry in one transaction: the rows
changed (before and after, as the rule set's documented JSON form,
`cairn_core.ruleset_json`), the reason, the source, who, and the SHA-256
of the whole rule set after it. Either both commit or neither. A change
with no reason or no source is refused before anything is written.

The admin's rule pages (agreements.admin, through the setting
CAIRN_RULE_CHANGE_RECORDER, so that the rules app needs no import of the
ledger), `manage.py record_rule_change` (after a data migration) and the
demo go through here. Rule data changed any other way (direct SQL) no
longer matches the latest entry: the integrity checks raise `rules_data`
and verifications refuse to use it (audit.engine.check_rules_logged).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from django.db import transaction

from agreements.snapshot import load_ruleset
from cairn_core import ruleset_json
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
        before = ruleset_json.to_json(load_ruleset())
        yield
        record_change(before=before, reason=reason, source=source, by=by)


def record_change(*, before: Mapping[str, Any], reason: str, source: str, by: str) -> Entry | None:
    """The `rules` entry of an edit made in this transaction, from the rule
    set's JSON before it (the admin's recorder, CAIRN_RULE_CHANGE_RECORDER).
    None when the edit changed nothing the log does not already record."""
    _require(reason, source)
    ruleset = load_ruleset()
    changes = differences(before, ruleset_json.to_json(ruleset))
    logged = ledger_entries.latest_rules_digest()
    if not changes and logged is not None and logged[1] == ruleset_json.digest(ruleset):
        return None
    fields = ledger_entries.rules_fields(reason=reason, source=source, by=by, changes=changes)
    entry = ledger_entries.append("rules", fields)
    # The entries' agreement links follow the rules they are derived from, in
    # the same transaction: those of the entries the change can move.
    relink_changed(ruleset_json.from_json(before), ruleset)
    return entry


def record_current(*, reason: str, source: str, by: str) -> Entry | None:
    """A `rules` entry for the rule data as it stands, when the log does not
    record it yet (after a data migration: `manage.py record_rule_change`);
    None when it already does. Its change names the digests before and after."""
    _require(reason, source)
    with transaction.atomic():
        logged = ledger_entries.latest_rules_digest()
        digest = ruleset_json.digest(load_ruleset())
        if logged is not None and logged[1] == digest:
            return None
        change = {"table": "rule set", "row": "sha256", "before": logged[1] if logged else None, "after": digest}
        fields = ledger_entries.rules_fields(reason=reason, source=source, by=by, changes=[change])
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
    (schedules) or its position; any other section is one row.
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
            for name in ("slug", "organization", "placed_in_service_from"):
                if name in row:
                    key = str(row[name])
                    break
        elif isinstance(row, str):
            key = row
        while key in keyed:  # two rows with one name: keep both
            key += "'"
        keyed[key] = row
    return keyed
