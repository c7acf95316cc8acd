"""Which vehicles contain a supplier's or a batch's material? The claims' search.

A search term matches a batch by its id or by the organisation that owns it
or logged it (slug or name); every claim whose pack was made from a matching
batch, however many steps downstream, is found by the ledger's forward walk
of the batch DAG (provenance.upstream.downstream_batch_ids). "Ochang" finds
each vehicle with cells from Ochang Cell Company.
"""

from __future__ import annotations

from django.db.models import Q

from provenance.models import Batch, Claim
from provenance.upstream import downstream_batch_ids


def batches_matching(term: str) -> set[str]:
    match = (
        Q(id__icontains=term)
        | Q(owner__slug__icontains=term)
        | Q(owner__name__icontains=term)
        | Q(created_by__issuer__slug__icontains=term)
        | Q(created_by__issuer__name__icontains=term)
    )
    return set(Batch.objects.filter(match).values_list("id", flat=True))


def vins_containing(term: str) -> set[str]:
    """The VINs of the claims whose supply chain includes a batch matching the term."""
    term = term.strip()
    if not term:
        return set()
    found = batches_matching(term)
    if not found:
        return set()
    return set(Claim.objects.filter(batch_id__in=downstream_batch_ids(found)).values_list("vin", flat=True))
