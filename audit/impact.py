"""What would change if an agreement ended on a date: a what-if, stored nowhere.

`impact_of_termination(slug, on)` derives a RuleSet with the agreement
terminated from `on` (`RuleSet.with_termination`) and reports:

* every origin or transform entry linked to the agreement with a date on or
  after `on`, per mineral: the agreements it relied on before, those left
  after, and whether its country still counts;
* the batches those entries created, and every logged claim downstream of
  them (found by walking the ledger's batch links forward:
  provenance.upstream, whose upstream walk the engine's evaluator uses).

Whether a claim's qualifying percentage or credit actually changes needs the
audit engine. It plugs in as `evaluate(ruleset, claim) -> mapping`: when
given, each downstream claim is evaluated under both RuleSets and only the
claims whose result differs are kept, with before and after. Without it the
claims are listed as candidates, with no before and after.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal

from agreements.snapshot import load_ruleset
from audit.engine import claim_evaluator
from cairn_core.regimes.s30d import rules
from provenance.models import Batch, Claim, Entry, EntryAgreementLink
from provenance.upstream import downstream_batch_ids

ClaimEvaluator = Callable[[rules.RuleSet, Claim], Mapping[str, object]]


def engine_evaluator() -> ClaimEvaluator:
    """The audit engine as an evaluator: a claim's credit and qualifying % under a RuleSet."""
    return claim_evaluator()


@dataclass(frozen=True)
class MineralChange:
    mineral: str
    before: tuple[str, ...]  # agreement slugs that made the country count
    after: tuple[str, ...]
    qualifies_after: bool


@dataclass(frozen=True)
class AffectedEntry:
    index: int
    type: str
    issuer: str
    occurred_on: dt.date
    country: str
    batches: tuple[str, ...]
    minerals: tuple[MineralChange, ...]


@dataclass(frozen=True)
class ClaimImpact:
    vin: str
    claim_index: int
    placed_in_service: dt.date
    acquired: dt.date
    batch: str
    before: Mapping[str, object] | None = None
    after: Mapping[str, object] | None = None


@dataclass(frozen=True)
class TerminationImpact:
    agreement: str
    terminate_on: dt.date
    rules_version_before: str
    rules_version_after: str
    claims_evaluated: bool
    entries: tuple[AffectedEntry, ...]
    claims: tuple[ClaimImpact, ...]
    # The claims downstream of the affected entries: all evaluated when
    # claims_evaluated, of which `claims` are those that change.
    claims_downstream: int = 0

    @property
    def claims_unchanged(self) -> int:
        return self.claims_downstream - len(self.claims) if self.claims_evaluated else 0

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready data (dates as YYYY-MM-DD)."""
        return {key: _jsonable(value) for key, value in asdict(self).items()}


def impact_of_termination(
    slug: str,
    on: dt.date,
    *,
    ruleset: rules.RuleSet | None = None,
    evaluate: ClaimEvaluator | None = None,
) -> TerminationImpact:
    """Entries, batches and claims affected if agreement `slug` ended on `on`."""
    before = ruleset or load_ruleset()
    after = before.with_termination(slug, on)
    entries = _affected_entries(slug, on, before, after)
    batches = {batch for entry in entries for batch in entry.batches}
    claims = _downstream_claims(batches)
    downstream = len(claims)
    if evaluate is not None:
        claims = _evaluated(claims, before, after, evaluate)
    return TerminationImpact(
        agreement=slug,
        terminate_on=on,
        rules_version_before=before.version,
        rules_version_after=after.version,
        claims_evaluated=evaluate is not None,
        entries=tuple(entries),
        claims=tuple(claims),
        claims_downstream=downstream,
    )


def _affected_entries(slug: str, on: dt.date, before: rules.RuleSet, after: rules.RuleSet) -> list[AffectedEntry]:
    links = (
        EntryAgreementLink.objects.filter(agreement_id=slug, entry__occurred_at__date__gte=on)
        .select_related("entry")
        .order_by("entry_id", "mineral")
    )
    minerals_by_entry = defaultdict(list)
    entries = {}
    for link in links:
        entries[link.entry_id] = link.entry
        minerals_by_entry[link.entry_id].append((str(link.country), link.mineral))
    created = defaultdict(list)
    for batch_id, entry_id in Batch.objects.filter(created_by_id__in=entries).values_list("id", "created_by_id"):
        created[entry_id].append(batch_id)
    return [
        _affected_entry(entry, minerals_by_entry[index], sorted(created[index]), before, after)
        for index, entry in entries.items()
    ]


def _affected_entry(
    entry: Entry, minerals: list[tuple[str, str]], batches: list[str], before: rules.RuleSet, after: rules.RuleSet
) -> AffectedEntry:
    occurred_on = entry.occurred_at.date()
    changes = []
    for country, mineral in minerals:
        still = rules.country_qualifies(after, country, mineral, occurred_on)
        changes.append(
            MineralChange(
                mineral=mineral,
                before=_slugs(rules.qualifying_agreements(before, country, mineral, occurred_on)),
                after=_slugs(still.agreements),
                qualifies_after=still.qualifies,
            )
        )
    return AffectedEntry(
        index=entry.index,
        type=entry.type,
        issuer=entry.issuer_id or "",  # agreement links are an attestation's, which always has one
        occurred_on=occurred_on,
        country=minerals[0][0],
        batches=tuple(batches),
        minerals=tuple(changes),
    )


def _slugs(refs: Iterable[rules.AgreementRef]) -> tuple[str, ...]:
    return tuple(ref.slug for ref in refs)


def _downstream_claims(batch_ids: set[str]) -> list[ClaimImpact]:
    if not batch_ids:
        return []
    claims = Claim.objects.filter(batch_id__in=downstream_batch_ids(batch_ids)).order_by("entry_id")
    return [
        ClaimImpact(
            vin=claim.vin,
            claim_index=claim.entry_id,
            placed_in_service=claim.placed_in_service,
            acquired=claim.acquired,
            batch=claim.batch_id,
        )
        for claim in claims
    ]


def _evaluated(
    claims: list[ClaimImpact], before: rules.RuleSet, after: rules.RuleSet, evaluate: ClaimEvaluator
) -> list[ClaimImpact]:
    by_vin = Claim.objects.in_bulk([claim.vin for claim in claims])
    changed = []
    for claim in claims:
        result_before = evaluate(before, by_vin[claim.vin])
        result_after = evaluate(after, by_vin[claim.vin])
        if result_before != result_after:
            changed.append(ClaimImpact(**{**asdict(claim), "before": result_before, "after": result_after}))
    return changed


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
