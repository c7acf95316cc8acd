"""A batch's upstream DAG, read from the ledger's batch links: the one loader.

The verdict (audit.engine), the provenance graph of the API and the admin
(provenance.selectors.upstream_graph) and the what-if (audit.impact) all
walk the ledger through these. The upstream walk follows BatchLink rows
only (an output's "created" link to its transform, the transform's
"consumed" links to its inputs): ledger rows that are never updated, not
the mutable state in Batch. The downstream walk follows "consumed" links to
the batches their entries created (Batch.created_by, set once).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from django.db import connection

from provenance.models import Batch, BatchLink, LinkRole

LINK_TABLE = BatchLink._meta.db_table
# No entry index is larger (a signed 64-bit integer, as the column is).
LAST_INDEX = 2**63 - 1

# Every link of every batch upstream of one batch, up to an entry index.
# UNION (not UNION ALL) visits each batch once, so shared ancestors cost
# nothing and the walk ends. Indexes used: batchlink (batch, entry) for
# "created", the unique (entry, batch) for "consumed".
UPSTREAM_LINKS_SQL = f"""
WITH RECURSIVE upstream(batch_id) AS (
    SELECT CAST(%s AS VARCHAR(128))
    UNION
    SELECT consumed.batch_id
    FROM upstream
    JOIN {LINK_TABLE} AS created
      ON created.batch_id = upstream.batch_id AND created.role = 'created'
    JOIN {LINK_TABLE} AS consumed
      ON consumed.entry_id = created.entry_id AND consumed.role = 'consumed'
)
SELECT link.entry_id, link.batch_id, link.role, link.prev
FROM {LINK_TABLE} AS link
JOIN upstream ON upstream.batch_id = link.batch_id
WHERE link.entry_id <= %s
"""


class UpstreamLink(NamedTuple):
    """One stored batch link: `entry` touched `batch` as `role`, signing `prev`."""

    entry: int
    batch: str
    role: str
    prev: str


def upstream_links(batch_id: str, *, up_to: int | None = None) -> tuple[UpstreamLink, ...]:
    """Every link of `batch_id` and of every batch upstream of it, by entries up to
    index `up_to` (default: all), in one query."""
    with connection.cursor() as cursor:
        cursor.execute(UPSTREAM_LINKS_SQL, [batch_id, LAST_INDEX if up_to is None else up_to])
        rows = cursor.fetchall()
    return tuple(map(UpstreamLink._make, rows))


def downstream_batch_ids(batch_ids: Iterable[str]) -> set[str]:
    """The batches, and every batch made from them, following consumption forward
    to the batches each consumer created (one query per generation)."""
    seen = set(batch_ids)
    frontier = set(seen)
    while frontier:
        consumers = BatchLink.objects.filter(batch_id__in=frontier, role=LinkRole.CONSUMED).values("entry_id")
        made = Batch.objects.filter(created_by_id__in=consumers)
        frontier = set(made.values_list("id", flat=True)) - seen
        seen |= frontier
    return seen
