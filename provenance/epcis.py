"""A batch's upstream DAG as one EPCIS 2.0 document (contract §11): which
entries, read in three queries, mapped by cairn_core.epcis.

The entries are the batch's own (every entry that created, moved, certified
or claimed it; not the transforms that consumed it, which are downstream),
every entry a `prev` of the set names, transitively, and every certification
of a batch of the set that builds on the set: the same closure as a claim's
proof bundle (contract §8), so that each event's entry can be proven as a
bundle's entries are, and a supplier's §45X certifications besides (they
build on the set the same way; their events show no taxpayer id or cost).

Each entry's event (with its eventID: GS1's reference implementation takes
10–20 ms an event) is derived once and stored (`EpcisEvent`): by the
`provenance.derive_epcis_events` task, scheduled when an append commits,
or by the first export that finds it missing. An export reads the stored
events and splices their text into one document.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from cairn_core import epcis
from cairn_core.entries import named_batches
from cairn_core.epcis_ids import Identifiers
from provenance.models import Batch, BatchLink, Entry, EpcisEvent

# Entries claimed and derived per transaction by the task: about a second of
# hashing, the claimed rows locked (FOR NO KEY UPDATE) no longer than that.
DERIVE_CHUNK = 100

# The entries an export leaves out: ledger entries (contract §12) are the
# ledger's own record, not events of the supply chain. (The §45X statements
# are exported, as cairn_core.epcis maps them: no taxpayer id, cost or
# buyer's name.)
NOT_EXPORTED = ("ledger",)

LINKS = BatchLink._meta.db_table
ENTRIES = Entry._meta.db_table
INDEX = connection.ops.quote_name("index")

# The batch's own entries and every entry a `prev` of the set names (UNION
# visits each entry once), each with its entry_hash; then every certification
# of a batch the set touches, with the head it signed (its prev). One round
# trip: the lists are as long as the DAG. Indexes: batchlink (batch, entry),
# the unique (entry, batch), entry_hash's unique.
UPSTREAM_SQL = f"""
WITH RECURSIVE closure(entry_id) AS (
    SELECT own.entry_id FROM {LINKS} AS own WHERE own.batch_id = %s AND own.role <> 'consumed'
    UNION
    SELECT named.{INDEX}
    FROM closure
    JOIN {LINKS} AS link ON link.entry_id = closure.entry_id AND link.prev <> ''
    JOIN {ENTRIES} AS named ON named.entry_hash = link.prev
),
touched(batch_id) AS (
    SELECT DISTINCT link.batch_id FROM {LINKS} AS link JOIN closure ON closure.entry_id = link.entry_id
)
SELECT closure.entry_id, entry.entry_hash, NULL
FROM closure JOIN {ENTRIES} AS entry ON entry.{INDEX} = closure.entry_id
UNION ALL
SELECT certified.entry_id, entry.entry_hash, certified.prev
FROM {LINKS} AS certified
JOIN touched ON touched.batch_id = certified.batch_id
JOIN {ENTRIES} AS entry ON entry.{INDEX} = certified.entry_id
WHERE certified.role IN ('certified', 'supplier_certified')
"""


def identifiers() -> Identifiers:
    """This ledger's URIs: under https:// and its log origin (LEDGER_ORIGIN)."""
    return Identifiers.for_origin(settings.LEDGER_ORIGIN)


def upstream_indexes(batch_id: str) -> list[int]:
    """The entries of the batch's EPCIS export (see the module), sorted."""
    with connection.cursor() as cursor:
        cursor.execute(UPSTREAM_SQL, [batch_id])
        rows = cursor.fetchall()
    closure = {index: entry_hash for index, entry_hash, prev in rows if prev is None}
    hashes = set(closure.values())
    indexes = set(closure)
    certifications = sorted((index, prev, entry_hash) for index, entry_hash, prev in rows if prev is not None)
    for index, prev, entry_hash in certifications:
        if index not in indexes and prev in hashes:  # in index order: a certification of one follows it
            indexes.add(index)
            hashes.add(entry_hash)
    return sorted(indexes)


def logged_statements(indexes: Iterable[int]) -> list[epcis.LoggedStatement]:
    rows = Entry.objects.filter(index__in=list(indexes)).exclude(type__in=NOT_EXPORTED).order_by("index")
    fields = ("index", "entry_hash", "leaf_hash", "integrated_time", "statement")
    return [epcis.LoggedStatement._make(row) for row in rows.values_list(*fields)]


def derive(entries: list[epcis.LoggedStatement]) -> dict[int, str]:
    """The entries' events as text, stored (a row of another derivation
    replaced); each is the same whoever derives it, so a race stores it twice."""
    if not entries:
        return {}
    ids = identifiers()
    named = set().union(*(named_batches(e.statement) for e in entries))
    units = dict(Batch.objects.filter(id__in=named).values_list("id", "unit"))
    texts = dict(zip((e.log_index for e in entries), epcis.event_texts(entries, ids, units), strict=True))
    rows = [EpcisEvent(entry_id=index, derivation=epcis.derivation(ids), event=text) for index, text in texts.items()]
    EpcisEvent.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["entry"], update_fields=["derivation", "event"]
    )
    return texts


def stored_events(indexes: list[int]) -> dict[int, str]:
    """The entries' stored events of this derivation; the missing ones derived now."""
    current = epcis.derivation(identifiers())
    rows = EpcisEvent.objects.filter(entry_id__in=indexes, derivation=current).values_list("entry_id", "event")
    stored = dict(rows)
    missing = [index for index in indexes if index not in stored]
    if missing:
        stored.update(derive(logged_statements(missing)))
    return stored


def derive_pending(indexes: list[int] | None = None) -> int:
    """Derive and store the events of `indexes` (every entry when None) that
    have none of this derivation, DERIVE_CHUNK at a time; returns how many.
    Each chunk is claimed (its entries locked FOR NO KEY UPDATE SKIP LOCKED:
    appends and reads go on) so that two workers share the work rather than
    repeat it; a repeated task finds nothing left to do."""
    done = 0
    while True:
        with transaction.atomic():
            claimed = _claim(indexes)
            done += len(derive(logged_statements(claimed)))
        if len(claimed) < DERIVE_CHUNK:
            return done


def _claim(indexes: list[int] | None) -> list[int]:
    pending = Entry.objects.exclude(type__in=NOT_EXPORTED)
    pending = pending.exclude(epcis_event__derivation=epcis.derivation(identifiers()))
    if indexes is not None:
        pending = pending.filter(index__in=indexes)
    pending = pending.order_by("index").select_for_update(skip_locked=True, no_key=True, of=("self",))
    return list(pending.values_list("index", flat=True)[:DERIVE_CHUNK])


def export_text(batch: Batch) -> str:
    """The EPCISDocument of the batch's upstream DAG as JSON text."""
    indexes = upstream_indexes(batch.id)
    events = stored_events(indexes)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return epcis.document_text(identifiers(), created=created, events=(events[i] for i in indexes if i in events))


def export(batch: Batch) -> dict[str, Any]:
    """The same document parsed, its numbers exact (Decimal)."""
    document: dict[str, Any] = json.loads(export_text(batch), parse_float=Decimal)
    return document
