"""Reads that span the ledger's tables: who may see what, and upstream DAGs."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.db.models import Q

from cairn_core.dag import Graph, Step, attribution_factors, decimal_str
from provenance.linking import links_for_entries
from provenance.models import Batch, BatchLink, Entry, LinkRole, Organization

# Every batch upstream of one batch: follow "created by a transform that
# consumed X" back to the origins. UNION (not UNION ALL) visits each batch
# once, so shared ancestors cost nothing extra and the walk ends on a DAG.
UPSTREAM_SQL = """
WITH RECURSIVE upstream(batch_id) AS (
    SELECT CAST(%s AS VARCHAR(128))
    UNION
    SELECT link.batch_id
    FROM upstream
    JOIN provenance_batch AS batch ON batch.id = upstream.batch_id
    JOIN provenance_batchlink AS link
      ON link.entry_id = batch.created_by_id AND link.role = 'consumed'
)
SELECT batch_id FROM upstream
"""


def upstream_batch_ids(batch_id: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(UPSTREAM_SQL, [batch_id])
        return [row[0] for row in cursor.fetchall()]


def upstream_graph(batch_id: str) -> tuple[Graph, dict[str, Batch]]:
    """The DAG above a batch in three queries: the walk, the batches, the links."""
    ids = upstream_batch_ids(batch_id)
    batches = Batch.objects.in_bulk(ids)
    creators = {batch.created_by_id for batch in batches.values()}
    steps: dict[int, Step] = {}
    links = BatchLink.objects.filter(entry_id__in=creators, role=LinkRole.CONSUMED).values_list(
        "entry_id", "batch_id", "quantity"
    )
    for entry_id, input_id, quantity in links:
        steps.setdefault(entry_id, Step(entry_id, {}, {})).inputs[input_id] = quantity
    # A transform's outputs include siblings outside the upstream set (a
    # split's other half): their quantities are needed for the shares.
    for output_id, entry_id, quantity in Batch.objects.filter(created_by_id__in=steps).values_list(
        "id", "created_by_id", "quantity"
    ):
        steps[entry_id].outputs[output_id] = quantity
    graph = Graph(
        quantities={batch.id: batch.quantity for batch in batches.values()},
        made_by={batch.id: steps[batch.created_by_id] for batch in batches.values() if batch.created_by_id in steps},
    )
    return graph, batches


def provenance_of(batch: Batch) -> dict:
    """GET /batches/{id}/provenance: nodes, edges and attributed origin minerals."""
    graph, batches = upstream_graph(batch.id)
    factors = attribution_factors(graph, batch.id)
    agreements = links_for_entries({node.created_by_id for node in batches.values()})
    nodes = [
        {
            "id": node.id,
            "material": node.material,
            "unit": node.unit,
            "quantity": decimal_str(node.quantity),
            "custodian": node.custodian_id,
            "country": node.site_country.code,
            "agreements": agreements.get(node.created_by_id, []),
        }
        for node in sorted(batches.values(), key=lambda item: (item.created_by_id, item.id))
    ]
    edges = [
        {"from": source, "to": target, "index": index, "quantity": decimal_str(quantity)}
        for source, target, index, quantity in graph.edges()
    ]
    origins = [
        {
            "batch": node.id,
            "country": node.site_country.code,
            "minerals": {
                name: decimal_str(Decimal(kg) * factors.get(node.id, Decimal(0)))
                for name, kg in sorted(node.minerals.items())
            },
        }
        for node in sorted(batches.values(), key=lambda item: (item.created_by_id, item.id))
        if node.id not in graph.made_by and node.minerals
    ]
    return {"nodes": nodes, "edges": edges, "origins": origins}


# --- read permissions (contract §5) -----------------------------------------


def orgs_named_by(entry: Entry) -> set[str]:
    """Issuer, co-signers, a transfer's `to`, and custodians of the batches it touches."""
    named = {entry.issuer_id}
    named.update(entry.signature_records.values_list("organization_id", flat=True))
    if entry.type == "transfer":
        named.add(entry.statement.get("to", ""))
    for before, after, current in entry.batch_links.values_list(
        "custodian_before_id", "custodian_after_id", "batch__custodian_id"
    ):
        named.update(slug for slug in (before, after, current) if slug)
    return named


def can_read_entry(org: Organization, entry: Entry) -> bool:
    return org.has_role("auditor") or org.slug in orgs_named_by(entry)


def can_read_batch(org: Organization, batch: Batch) -> bool:
    """Auditors, and the batch's current or past custodians."""
    if org.has_role("auditor") or batch.custodian_id == org.slug:
        return True
    return batch.links.filter(Q(custodian_before=org) | Q(custodian_after=org)).exists()
