"""Recording integrity problems as incidents: once each, mailed after commit."""

from __future__ import annotations

from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from audit.models import IntegrityIncident
from cairn_core.problems import Problem


def record_problems(problems: list[Problem], *, detected_by: str) -> list[IntegrityIncident]:
    """Store the problems not yet recorded; mail ADMINS about them after commit.

    A problem seen before (same fingerprint) is not stored or mailed again, so
    a check that runs every few minutes reports a broken entry once.
    """
    by_fingerprint = {problem.fingerprint: problem for problem in problems}
    if not by_fingerprint:
        return []
    now = timezone.now()
    with transaction.atomic():
        known = set(
            IntegrityIncident.objects.filter(fingerprint__in=by_fingerprint).values_list("fingerprint", flat=True)
        )
        fresh = [
            IntegrityIncident(
                fingerprint=fingerprint,
                index=problem.index,
                code=problem.code,
                message=problem.message,
                detected_at=now,
                detected_by=detected_by,
            )
            for fingerprint, problem in by_fingerprint.items()
            if fingerprint not in known
        ]
        # ignore_conflicts: a concurrent check may record the same problem.
        IntegrityIncident.objects.bulk_create(fresh, ignore_conflicts=True)
        if fresh:
            transaction.on_commit(lambda: _mail(fresh, detected_by))
    return fresh


def _mail(incidents: list[IntegrityIncident], detected_by: str) -> None:
    lines = [f"index {incident.index}: {incident.message}" for incident in incidents]
    mail_admins(
        f"Ledger integrity: {len(incidents)} new problem(s) found by {detected_by}",
        "\n".join(lines) + "\n\nSee Audit > Integrity incidents in the admin.\n",
    )
