"""The auditors' §45X desk: a component batch's verdict, its what-if, and the batches' outlook.

    evidence(batch) -> Evidence                  the batch's signed statements, keys, rules, checkpoint
    verdict(evidence, year, sold_year=None)      the verdict document (the core's `verdict_of`)
    what_if(evidence, year, designate=…, undesignate=…, year_sold=…)
                                                 the verdict were a supplier designated or not, or
                                                 the batch sold another year: computed, never stored
    outlook(year)                                every component batch's verdict for `year`, and
                                                 what the next year's threshold would make of it

The evidence is read exactly as `audit.macr.macr_verdict` reads it (the
batch's upstream DAG, each entry checked as a claim's are, the keys with
their revocations, the rule data only as the log records it, the covering
checkpoint), once per batch, so that a page showing a verdict beside its
what-ifs, or a list of every batch's verdict for two years, gathers each
DAG once. The computations are the core's alone
(`cairn_core.regimes.s45x.verdict`).

A what-if that changes designations is refused on evidence whose integrity
is broken: such a verdict is "incomplete" under any rules, and the core's
what-if computes from the statements without the integrity problems.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from audit.claim_integrity import ClaimCheck
from audit.integrity import ENTRY_FIELDS
from audit.macr import covering_checkpoint, logged_rules
from cairn_core.entries import Key, StoredEntry
from cairn_core.problems import Problem
from cairn_core.regimes.s45x import macr
from cairn_core.regimes.s45x import verdict as verdicts
from cairn_core.regimes.s45x.rules import Designation, Rules
from provenance.errors import LedgerError
from provenance.keys import verifying_keys
from provenance.models import Batch, Entry
from provenance.upstream import upstream_links

# The source a what-if's designation names: it is the auditor's question, not a list.
WHAT_IF_SOURCE = "what-if on the auditors' §45X page (not a designation)"
PFE_KINDS = ("specified", "foreign_influenced")


@dataclass(frozen=True)
class Evidence:
    """What a component batch's verdicts are computed from, read once."""

    batch: str
    statements: tuple[macr.Logged, ...]
    keys: dict[str, Key]
    rules: Rules
    checkpoint: str
    problems: tuple[Problem, ...]
    as_of: dt.datetime

    @property
    def broken(self) -> bool:
        return bool(self.problems)


def evidence(batch: Batch, rules: Rules | None = None) -> Evidence:
    """The batch's statements as `audit.macr.macr_verdict` reads them, under `rules` (by default the
    rule data, read now: LedgerError "unavailable" when it is not what the log records)."""
    rules = rules if rules is not None else logged_rules()
    links = upstream_links(batch.id)
    indexes = {link.entry for link in links}
    entries = {
        row[0]: StoredEntry._make(row)
        for row in Entry.objects.filter(index__in=indexes).values_list(*ENTRY_FIELDS).order_by()
    }
    checkpoint = covering_checkpoint(max(indexes, default=0))
    integrity = ClaimCheck(entries, links, frozenset(link.batch for link in links), checkpoint).result()
    statements = tuple(
        macr.Logged(
            index, decoded.entry_hash, entries[index].integrated_time, decoded.payload, tuple(sorted(decoded.keyids))
        )
        for index, decoded in sorted(integrity.decoded.items())
    )
    return Evidence(
        batch=batch.id,
        statements=statements,
        keys=verifying_keys(keyid for item in statements for keyid in item.keyids),
        rules=rules,
        checkpoint=checkpoint.note if checkpoint else "",
        problems=tuple(integrity.problems),
        as_of=timezone.now(),
    )


def verdict(found: Evidence, taxable_year: int, *, sold_year: int | None = None) -> dict[str, Any]:
    """The verdict document for `taxable_year` (with `sold_year`: as if sold that year), unsigned."""
    try:
        return verdicts.verdict_of(
            found.statements,
            found.batch,
            taxable_year,
            found.rules,
            found.keys,
            as_of=found.as_of,
            checkpoint=found.checkpoint,
            problems=found.problems,
            what_if_year=sold_year,
        )
    except macr.EvidenceError as exc:
        raise LedgerError("unavailable", f"The evidence of batch {found.batch} cannot be read: {exc}.") from exc


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
    if found.broken and (designate is not None or undesignate is not None):
        raise LedgerError(
            "bad_request",
            f"The evidence of batch {found.batch} fails its integrity checks: its verdict is incomplete "
            "whatever the designations, so no what-if is computed.",
        )
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
