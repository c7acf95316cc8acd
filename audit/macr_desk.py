"""The auditors' §45X desk: a component batch's verdict, its what-if, and the batches' outlook.

    evidence(batch) -> Evidence                  the batch's signed statements, keys, rules, checkpoint
    verdict(evidence, year, sold_year=None)      the verdict document (the core's `verdict_of`)
    what_if(evidence, year, designate=…, undesignate=…, year_sold=…)
                                                 the verdict were a supplier designated or not, or
                                                 the batch sold another year: computed, never stored
    outlook(year)                                every component batch's verdict for `year`, and
                                                 what the next year's threshold would make of it

The evidence is read by `audit.macr.macr_verdict`'s own loader (the
batch's upstream DAG, each entry checked as a claim's are, the keys with
their revocations, the rule data only as the log records it, the covering
checkpoint), once per batch, so that a page showing a verdict beside its
what-ifs, or a list of every batch's verdict for two years, gathers each
DAG once. The computations are the core's alone
(`cairn_core.regimes.s45x.verdict`).

A what-if over evidence whose integrity is broken is "incomplete", as its
verdict is: the core's what-if takes the integrity problems too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from audit.macr import Checked, check_evidence, covering_checkpoint, load_evidence, logged_rules, verdict_of
from cairn_core.entries import Key
from cairn_core.problems import Problem
from cairn_core.regimes.s45x import macr
from cairn_core.regimes.s45x import verdict as verdicts
from cairn_core.regimes.s45x.rules import Designation, Rules
from provenance.errors import LedgerError
from provenance.models import Batch

# The source a what-if's designation names: it is the auditor's question, not a list.
WHAT_IF_SOURCE = "what-if on the auditors' §45X page (not a designation)"
PFE_KINDS = ("specified", "foreign_influenced")


@dataclass(frozen=True)
class Evidence:
    """What a component batch's verdicts are computed from, read once."""

    batch: str
    checked: Checked
    rules: Rules
    as_of: dt.datetime

    @property
    def statements(self) -> tuple[macr.Logged, ...]:
        return self.checked.statements

    @property
    def keys(self) -> Mapping[str, Key]:
        return self.checked.keys

    @property
    def checkpoint(self) -> str:
        return self.checked.checkpoint

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self.checked.problems

    @property
    def broken(self) -> bool:
        return bool(self.problems)


def evidence(batch: Batch, rules: Rules | None = None) -> Evidence:
    """The batch's statements as `audit.macr.macr_verdict` reads them (`macr.load_evidence` and
    `macr.check_evidence`, the one gathering), under `rules` (by default the rule data, read now:
    LedgerError "unavailable" when it is not what the log records)."""
    rules = rules if rules is not None else logged_rules()
    stored = load_evidence(batch)
    checked = check_evidence(stored, covering_checkpoint(stored.last_index))
    return Evidence(batch=batch.id, checked=checked, rules=rules, as_of=timezone.now())


def verdict(found: Evidence, taxable_year: int, *, sold_year: int | None = None) -> dict[str, Any]:
    """The verdict document for `taxable_year` (with `sold_year`: as if sold that year), unsigned."""
    return verdict_of(found.batch, found.checked, taxable_year, found.rules, found.as_of, sold_year)


def what_if(
    found: Evidence,
    taxable_year: int,
    *,
    designate: Designation | None = None,
    undesignate: str | None = None,
    year_sold: int | None = None,
) -> dict[str, Any]:
    """The verdict were `designate` added, `undesignate`'s designations removed, or the batch sold in
    `year_sold`: unsigned, stored nowhere; its `what_if` says what was changed."""
    if designate is None and undesignate is None:
        return {**verdict(found, taxable_year, sold_year=year_sold), "what_if": {"year_sold": year_sold}}
    try:
        return verdicts.what_if(
            found.statements,
            found.batch,
            taxable_year,
            found.rules,
            found.keys,
            as_of=found.as_of,
            checkpoint=found.checkpoint,
            problems=found.problems,
            designate=designate,
            undesignate=undesignate,
            year_sold=year_sold,
        )
    except macr.EvidenceError as exc:
        raise LedgerError("unavailable", f"The evidence of batch {found.batch} cannot be read: {exc}.") from exc


def what_if_designation(entity: str, name: str, kind: str, taxable_year: int, asked_by: str) -> Designation:
    """A designation of `entity` from the first day of the taxable year, so that it applies on its
    status date whatever the rule; unconfirmed, and its source says it is a what-if."""
    if kind not in PFE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PFE_KINDS)}")
    basis = f"what-if asked by {asked_by}"
    return verdicts.designation(entity, name, kind, basis, dt.date(taxable_year, 1, 1), WHAT_IF_SOURCE)


# --- every component batch ---------------------------------------------------------


@dataclass(frozen=True)
class Outlook:
    """A component batch's verdict for a taxable year, and the same batch were it sold the next year."""

    batch: Batch
    verdict: dict[str, Any]
    next_year: dict[str, Any]

    @property
    def next_year_fails(self) -> bool:
        """It passes (or is excepted) now, and would fail if sold the next year."""
        return self.verdict["outcome"] in ("pass", "excepted") and self.next_year["outcome"] == "fail"


def component_batches(rules: Rules) -> QuerySet[Batch]:
    """Batches whose component is in one of the rules' classes (origins, which name no
    component, are critical minerals with no direct materials in Cairn: not listed)."""
    components = {name for item in rules.component_classes for name in item.components}
    return Batch.objects.filter(component__in=components).order_by("owner_id", "id")


def outlook(taxable_year: int) -> Iterator[Outlook]:
    """Each component batch's verdict for `taxable_year`, and as if sold in the year after, under
    the rule data read once."""
    rules = logged_rules()
    for batch in component_batches(rules):
        found = evidence(batch, rules)
        yield Outlook(batch, verdict(found, taxable_year), verdict(found, taxable_year, sold_year=taxable_year + 1))
