"""What rests on a suspect row: later entries' chains, claims and their verdicts.

A changed entry breaks the chain of every later entry that signed its
original hash (the next entry on each batch it touched), and undermines
every claim downstream of the batches it created or touched, with every
verdict on those claims. A changed Batch row undermines the claims made
from that batch. Reads only (provenance.upstream's walk forward).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Min

from audit.models import IntegrityIncident, Verification
from audit.suspects import Finding
from provenance.models import Batch, BatchLink, Claim
from provenance.upstream import downstream_batch_ids

# Findings whose suspect row stands for an entry's rows ("batch links of entry #12").
ENTRY_ROWS = ("entry #", "batch links of entry #", "signature records of entry #", "agreement links of entry #")


def touched_batches(index: int) -> set[str]:
    """Batches entry `index` created or named."""
    named = set(BatchLink.objects.filter(entry_id=index).values_list("batch_id", flat=True))
    return named | set(Batch.objects.filter(created_by_id=index).values_list("id", flat=True))


def chains(indices: Iterable[int]) -> dict[int, list[int]]:
    """For each entry, the later entries that signed its hash as a batch's prev."""
    found = {}
    for index in indices:
        later = (
            BatchLink.objects.filter(batch_id__in=touched_batches(index), entry_id__gt=index)
            .values("batch_id")
            .annotate(next_entry=Min("entry_id"))
        )
        found[index] = sorted({row["next_entry"] for row in later})
    return found


def claims_resting_on(finding: Finding) -> list[str]:
    """VINs whose claim rests on the suspect row."""
    suspect = finding.suspect
    if suspect.startswith("claim "):
        return [suspect.removeprefix("claim ")]
    if suspect.startswith("batch "):
        batches = downstream_batch_ids([suspect.removeprefix("batch ")])
        return sorted(Claim.objects.filter(batch_id__in=batches).values_list("vin", flat=True))
    if suspect.startswith(ENTRY_ROWS):
        index = finding.index
        batches = downstream_batch_ids(touched_batches(index))
        vins = set(Claim.objects.filter(batch_id__in=batches).values_list("vin", flat=True))
        vins |= set(Claim.objects.filter(entry_id=index).values_list("vin", flat=True))
        return sorted(vins)
    return []


def of(finding: Finding) -> dict[str, list[str] | list[int]]:
    """Contract §5's consequences: {"claims": [VIN, …], "verifications": [id, …]}, and the chains."""
    vins = claims_resting_on(finding)
    verifications = sorted(Verification.objects.filter(claim_id__in=vins).values_list("id", flat=True))
    return {"claims": vins, "verifications": verifications, "chains": finding.chains}


# --- open incidents and the verdicts they undermine ----------------------------------


def unresolved() -> list[IntegrityIncident]:
    """Open and acknowledged incidents: an acknowledged one is still unexplained."""
    return list(IntegrityIncident.objects.exclude(state=IntegrityIncident.State.RESOLVED).order_by("id"))


def warnings_by_vin(incidents: Iterable[IntegrityIncident] | None = None) -> dict[str, list[int]]:
    """Unresolved incidents' ids by each VIN they undermine."""
    found: dict[str, list[int]] = {}
    for incident in unresolved() if incidents is None else incidents:
        for vin in (incident.consequences or {}).get("claims", []):
            found.setdefault(vin, []).append(incident.id)
    return found


def integrity_warnings(verification: Verification) -> list[int]:
    """Contract §5: ids of the unresolved incidents whose suspect is in the verdict's upstream."""
    return [
        incident.id
        for incident in unresolved()
        if verification.claim_id in (incident.consequences or {}).get("claims", [])
        or verification.id in (incident.consequences or {}).get("verifications", [])
    ]
