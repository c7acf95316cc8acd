"""Links from ledger entries to the agreements that make their country count.

At ingest, each origin and transform entry is linked, for every critical
mineral its batches carry, to the agreements that make its site country
count for that mineral on the entry's date (`link_entry`, called inside the
ledger's append transaction). When agreements change, `relink` recomputes
the links; the entries themselves never change. Links are derived data,
not ledger rows: each records the rule version it was computed under.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from agreements.snapshot import current_ruleset, load_ruleset
from cairn_core.regimes.s30d import rules
from provenance.models import Entry, EntryAgreementLink, EntryType

LINKED_TYPES = (EntryType.ORIGIN, EntryType.TRANSFORM)
RELINK_CHUNK = 500


def link_entry(
    entry: Entry,
    *,
    country: str,
    minerals: Iterable[str],
    on: dt.date,
    ruleset: rules.RuleSet | None = None,
) -> list[EntryAgreementLink]:
    """Create the entry's links; one query for the rule version, one insert.

    US sites get no links: the US counts without an agreement
    (`rules.country_qualifies` answers "domestic").
    """
    ruleset = ruleset or current_ruleset()
    links = planned_links(entry, country=country, minerals=minerals, on=on, ruleset=ruleset)
    return EntryAgreementLink.objects.bulk_create(links) if links else []


def planned_links(
    entry: Entry, *, country: str, minerals: Iterable[str], on: dt.date, ruleset: rules.RuleSet
) -> list[EntryAgreementLink]:
    """The (unsaved) links the rules give for an entry."""
    return [
        EntryAgreementLink(
            entry=entry,
            agreement_id=agreement,
            mineral=mineral,
            country=country,
            rules_version=ruleset.version,
        )
        for agreement, mineral in planned_agreements(country=country, minerals=minerals, on=on, ruleset=ruleset)
    ]


def planned_agreements(
    *, country: str, minerals: Iterable[str], on: dt.date, ruleset: rules.RuleSet
) -> list[tuple[str, str]]:
    """(agreement slug, mineral) of each link the rules give for an entry of
    `country` carrying `minerals` on `on`."""
    return [
        (ref.slug, mineral)
        for mineral in sorted(set(minerals))
        for ref in rules.qualifying_agreements(ruleset, country, mineral, on)
    ]


def link_inputs(entry: Entry) -> tuple[str, list[str], dt.date] | None:
    """(site country, minerals carried, date) of an origin or transform entry.

    Origins carry the minerals they declare; a transform's outputs carry the
    minerals of its inputs (Batch.carries), as the write path records them.
    """
    if entry.type not in LINKED_TYPES:
        return None
    country = entry.statement["site"]["country"]
    if entry.type == EntryType.ORIGIN:
        minerals = {name for output in entry.statement["outputs"] for name in output["minerals"]}
    else:
        minerals = {name for batch in entry.created_batches.all() for name in batch.carries}
    return country, sorted(minerals), entry.occurred_at.date()


@dataclass(frozen=True)
class RelinkResult:
    entries: int
    kept: int
    added: int
    removed: int


def relink(entries: Iterable[Entry] | None = None, *, ruleset: rules.RuleSet | None = None) -> RelinkResult:
    """Recompute the links of `entries` (default: every origin and transform)."""
    ruleset = ruleset or load_ruleset()
    if entries is None:
        entries = Entry.objects.filter(type__in=LINKED_TYPES)
    if isinstance(entries, QuerySet):
        entries = entries.prefetch_related("created_batches").iterator(chunk_size=RELINK_CHUNK)
    totals = [0, 0, 0, 0]
    chunk: list[Entry] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == RELINK_CHUNK:
            totals = [a + b for a, b in zip(totals, _relink_chunk(chunk, ruleset), strict=True)]
            chunk = []
    if chunk:
        totals = [a + b for a, b in zip(totals, _relink_chunk(chunk, ruleset), strict=True)]
    return RelinkResult(*totals)


def relink_changed(before: rules.RuleSet, after: rules.RuleSet) -> RelinkResult:
    """Recompute the links of only the entries whose links the change from
    `before` to `after` can move: those of the partners of an agreement
    added, removed or changed in what decides a link
    (`rules.countries_relinked_by`). A rule change runs this in its own
    transaction, which holds the log's tail: its cost is that of the
    entries it can affect, not of the log. Links left alone keep the rules
    version they were computed under."""
    countries = rules.countries_relinked_by(before, after)
    if not countries:
        return RelinkResult(0, 0, 0, 0)
    # Site countries are upper-case ISO 3166-1 alpha-2 codes (contract §3).
    affected = Entry.objects.filter(type__in=LINKED_TYPES, statement__site__country__in=sorted(countries))
    return relink(affected, ruleset=after)


@transaction.atomic
def _relink_chunk(entries: list[Entry], ruleset: rules.RuleSet) -> tuple[int, int, int, int]:
    wanted = {}
    for entry in entries:
        inputs = link_inputs(entry)
        if inputs is None:
            continue
        country, minerals, on = inputs
        for link in planned_links(entry, country=country, minerals=minerals, on=on, ruleset=ruleset):
            wanted[(link.entry_id, link.agreement_id, link.mineral)] = link
    current = EntryAgreementLink.objects.filter(entry__in=[entry.index for entry in entries])
    existing = {(link.entry_id, link.agreement_id, link.mineral): link.pk for link in current}
    stale = [pk for key, pk in existing.items() if key not in wanted]
    added = [link for key, link in wanted.items() if key not in existing]
    EntryAgreementLink.objects.filter(pk__in=stale).delete()
    EntryAgreementLink.objects.bulk_create(added)
    current.update(rules_version=ruleset.version)
    return len(entries), len(existing) - len(stale), len(added), len(stale)


def links_for_entries(indexes: Iterable[int]) -> dict[int, list[dict[str, str]]]:
    """{entry index: [{"agreement", "mineral", "country"}]} for the API, in one query."""
    indexes = list(indexes)
    found: dict[int, list[dict[str, str]]] = {index: [] for index in indexes}
    rows = EntryAgreementLink.objects.filter(entry_id__in=indexes).order_by("entry_id", "agreement_id", "mineral")
    for entry_id, agreement, mineral, country in rows.values_list("entry_id", "agreement_id", "mineral", "country"):
        found[entry_id].append({"agreement": agreement, "mineral": mineral, "country": str(country)})
    return found
