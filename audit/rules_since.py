"""Rule changes logged since a verdict that touch what it relied on.

Every change of the rule data is a `rules` ledger entry listing the rows it
changed (provenance.rule_changes: table and row, before and after). A verdict
relied on a changed row when the row is

* an agreement the verdict names in `agreements` (a qualifying lineage
  counted through it);
* the schedule row applied (`applied.schedule_row`, named by its first
  placed-in-service day), or any schedule row for a verdict stored before
  v1.1, which does not name it;
* any row of the credit's terms, the FEOC rules and designations, or the
  mineral lists: every verdict applies them.

Another regime's rules entries (`"regime": "45x"`) are not §30D's: no
verdict here applied them.

An agreement the verdict does not name (one that might have made another
lineage qualify) is not counted: the verdict did not rely on it. The verdict
page then says "rules changed since this verdict" and names each entry, its
rows and its reason; verifying again applies the rules as they stand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from audit.models import Verification
from provenance.models import Entry, EntryType

ROW_TABLES = ("agreements", "percentages")


@dataclass(frozen=True)
class RuleChange:
    index: int
    reason: str
    source: str
    by: str
    rows: tuple[str, ...]  # "table row", e.g. "agreements us-japan-cma"


def relied_on(change: Mapping[str, Any], verdict: Mapping[str, Any]) -> bool:
    """Whether the verdict relied on the changed row (see the module docstring)."""
    table, row = change.get("table"), str(change.get("row"))
    if table == "agreements":
        return row in (verdict.get("agreements") or [])
    if table == "percentages":
        applied = verdict.get("applied")
        if not applied:
            return True
        schedule_row = applied.get("schedule_row") or {}
        return row == str(schedule_row.get("placed_in_service_from"))
    return True


def changes_since(verification: Verification) -> list[RuleChange]:
    """The rules entries logged after the verification whose changes it relied on, oldest first."""
    # The verdict's checkpoint covers every ledger entry but verdicts logged
    # before it ran (audit.engine.covering_checkpoint): any rules entry beyond
    # it came later. One stating the verdict's own rules version changed nothing it used.
    entries = Entry.objects.filter(
        type=EntryType.LEDGER, statement__type="rules", index__gte=verification.checkpoint_size
    ).order_by("index")
    found = []
    for index, statement in entries.values_list("index", "statement"):
        if statement.get("regime") or statement.get("version") == verification.rules_version:
            continue
        rows = tuple(
            f"{change.get('table')} {change.get('row')}"
            for change in statement.get("changes") or []
            if relied_on(change, verification.verdict)
        )
        if rows:
            found.append(RuleChange(index, statement["reason"], statement["source"], statement["by"], rows))
    return found
