"""Verdicts undermined by an incident are verified again, automatically.

After each periodic check, every claim that an unresolved incident
undermines (its consequences) and whose latest verdict predates the
incident is verified again, as a command would (no user): the new verdict
says what the ledger shows now (broken, when the change is in its DAG),
and the old one stays flagged by the incident.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Max

from audit import consequences, engine
from audit.models import Verification

log = logging.getLogger(__name__)

# Claims verified again per run at most: the rest wait for the next check.
MAX_PER_RUN = 50


def reverify_undermined() -> list[int]:
    """Verify again the undermined claims whose latest verdict predates the incident; the new ids."""
    due: dict[str, dt.datetime] = {}
    for incident in consequences.unresolved():
        if incident.detected_by.startswith("verification "):
            continue  # found by a verification: that verdict is the fresh one
        for vin in (incident.consequences or {}).get("claims", []):
            # A verdict's time is kept to the second: one in the incident's second is after it.
            found = incident.detected_at.replace(microsecond=0)
            due[vin] = max(due.get(vin, found), found)
    latest = dict(
        Verification.objects.filter(claim_id__in=due)
        .values("claim_id")
        .annotate(at=Max("requested_at"))
        .values_list("claim_id", "at")
    )
    stale = [vin for vin, since in sorted(due.items()) if latest.get(vin) is None or latest[vin] < since]
    made = []
    for vin in stale[:MAX_PER_RUN]:
        try:
            made.append(engine.verify_claim(vin, requested_by=None).pk)
        except Exception:  # one claim that cannot be verified must not stop the others
            log.exception("verifying %s again after an integrity incident failed", vin)
    return made
