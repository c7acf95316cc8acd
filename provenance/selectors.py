"""Reads that span the ledger's tables: who may see what, and upstream DAGs."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Q, QuerySet

from cairn_core.dag import Graph, Step, attribution_factors, decimal_str
from provenance.linking import links_for_entries
from provenance.models import Batch, BatchLink, Entry, EntrySignature, LinkRole, Organization
from provenance.upstream import upstream_links


def upstream_graph(batch_id: str, *, up_to: int | None = None) -> tuple[Graph, dict[str, Batch]]:
    """The DAG above a batch, walked as the verdict walks it (provenance.upstream),
    in four queries: the walk, the batches, their transforms' inputs and outputs.

    `up_to`: the last entry index to follow (the batch's creator, a claim)."""
    links = upstream_links(batch_id, up_to=up_to)
    batches = Batch.objects.in_bulk({link.batch for link in links})
    made_by = {link.batch: link.entry for link in links if link.role == LinkRole.CREATED}
    steps = transform_steps(set(made_by.values()))
    graph = Graph(
        quantities={batch.id: batch.quantity for batch in batches.values()},
        made_by={batch: steps[entry] for batch, entry in made_by.items() if entry in steps and batch in batches},
    )
    return graph, batches


def transform_steps(entries: set[int]) -> dict[int, Step]:
    """The transforms among `entries`: what each consumed and made (two queries)."""
    inputs: dict[int, dict[str, Decimal]] = defaultdict(dict)
    consumed = BatchLink.objects.filter(entry_id__in=entries, role=LinkRole.CONSUMED)
    for entry_id, input_id, quantity in consumed.values_list("entry_id", "batch_id", "quantity"):
        inputs[entry_id][input_id] = quantity or Decimal(0)
    # A transform's outputs include siblings outside the upstream set (a
    # split's other half): their quantities are needed for the shares.
    outputs: dict[int, dict[str, Decimal]] = defaultdict(dict)
    made = Batch.objects.filter(created_by_id__in=inputs)
    for output_id, entry_id, quantity in made.values_list("id", "created_by_id", "quantity"):
        outputs[entry_id][output_id] = quantity
    return {entry: Step(entry, inputs[entry], outputs[entry]) for entry in inputs}


def provenance_of(batch: Batch) -> dict[str, list[dict[str, object]]]:
    """GET /batches/{id}/provenance: nodes, edges and attributed origin minerals."""
    graph, batches = upstream_graph(batch.id, up_to=batch.created_by_id)
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
    """Issuer, co-signers, a transfer's `to`, a supplier certification's
    `taxpayer`, and custodians of the batches it touches.

    A ledger entry (contract §12) names no one: auditors alone read it."""
    if entry.issuer_id is None:
        return set()
    named = {entry.issuer_id}
    named.update(entry.signature_records.values_list("organization_id", flat=True))
    if entry.type == "transfer":
        named.add(entry.statement.get("to", ""))
    if entry.type == "supplier_certification":
        named.add(entry.statement.get("taxpayer", ""))
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


# --- lists a caller may read (contract §5, v1.2) ----------------------------


def entries_naming(org: Organization) -> QuerySet[Entry]:
    """The entries GET /attestations/{index} would show `org` (`orgs_named_by`),
    as one query: each way of being named is a semi-join on an indexed column."""
    slug = org.slug
    named = (
        Q(issuer_id=slug)
        | Q(index__in=EntrySignature.objects.filter(organization_id=slug).values("entry_id"))
        | Q(type="transfer", statement__to=slug)
        | Q(type="supplier_certification", statement__taxpayer=slug)
        | Q(
            index__in=BatchLink.objects.filter(
                Q(custodian_before_id=slug) | Q(custodian_after_id=slug) | Q(batch__custodian_id=slug)
            ).values("entry_id")
        )
    )
    return Entry.objects.filter(named)


def readable_entries(org: Organization) -> QuerySet[Entry]:
    """Every entry for an auditor; for anyone else, those that name it."""
    return Entry.objects.all() if org.has_role("auditor") else entries_naming(org)
