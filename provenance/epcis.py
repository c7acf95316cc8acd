"""A batch's upstream DAG as one EPCIS 2.0 document (contract §11): which
entries, read in three queries, mapped by cairn_core.epcis.

The entries are the batch's own (every entry that created, moved, certified
or claimed it; not the transforms that consumed it, which are downstream),
every entry a `prev` of the set names, transitively, and every certification
of a batch of the set that builds on the set: the same closure as a claim's
proof bundle (contract §8), so that each event's entry can be proven as a
bundle's entries are.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from cairn_core import epcis
from cairn_core.epcis_ids import Identifiers
from provenance.models import Batch, BatchLink, Entry

LINKS = BatchLink._meta.db_table
ENTRIES = Entry._meta.db_table
INDEX = connection.ops.quote_name("index")

# The batch's own entries, and every entry a `prev` of the set names. UNION
# visits each entry once. Indexes: batchlink (batch, entry), entry_hash's unique.
PREV_CLOSURE_SQL = f"""
WITH RECURSIVE closure(entry_id) AS (
    SELECT own.entry_id FROM {LINKS} AS own WHERE own.batch_id = %s AND own.role <> 'consumed'
    UNION
    SELECT named.{INDEX}
    FROM closure
    JOIN {LINKS} AS link ON link.entry_id = closure.entry_id AND link.prev <> ''
    JOIN {ENTRIES} AS named ON named.entry_hash = link.prev
)
SELECT entry_id FROM closure
"""


def identifiers() -> Identifiers:
    """This ledger's URIs: under https:// and its log origin (LEDGER_ORIGIN)."""
    return Identifiers.for_origin(settings.LEDGER_ORIGIN)


def upstream_indexes(batch_id: str) -> list[int]:
    """The entries of the batch's EPCIS export (see the module), sorted."""
    with connection.cursor() as cursor:
        cursor.execute(PREV_CLOSURE_SQL, [batch_id])
        indexes = {row[0] for row in cursor.fetchall()}
    hashes = set(Entry.objects.filter(index__in=indexes).values_list("entry_hash", flat=True))
    batches = set(BatchLink.objects.filter(entry_id__in=indexes).values_list("batch_id", flat=True))
    certifications = (
        BatchLink.objects.filter(role="certified", batch_id__in=batches)
        .exclude(entry_id__in=indexes)
        .order_by("entry_id")
        .values_list("entry_id", "prev", "entry__entry_hash")
    )
    for index, prev, entry_hash in certifications:
        if prev in hashes:  # in index order, so a certification of a certification follows it
            indexes.add(index)
            hashes.add(entry_hash)
    return sorted(indexes)


def logged_statements(indexes: list[int]) -> list[epcis.LoggedStatement]:
    rows = Entry.objects.filter(index__in=indexes).exclude(type="ledger").order_by("index")
    fields = ("index", "entry_hash", "leaf_hash", "integrated_time", "statement")
    return [epcis.LoggedStatement._make(row) for row in rows.values_list(*fields)]


def export(batch: Batch) -> dict[str, object]:
    """The EPCISDocument of the batch's upstream DAG. Event hashes computed
    before are taken from the cache (an event never changes once logged)."""
    entries = logged_statements(upstream_indexes(batch.id))
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return epcis.document(entries, identifiers(), created=created, known_ids=cache)
