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
WHERE certified.role = 'certified'
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
