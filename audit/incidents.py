"""Recording integrity problems as incidents: once each, mailed after commit.

Incidents and check runs are never deleted by Cairn, so the highest id and
the number of rows of each table only grow. Both are kept as marks outside
the database (provenance.marks: `incidents`, `check_runs`), raised after
each commit that adds rows; `deleted()` names a table below its mark.

Limits: rows deleted before their mark was raised (between a commit and
its on_commit callback) go unseen, and so does a deletion followed by as
many inserted rows with higher ids than the deleted ones; an insider who
also controls VAR_DIR and the cache can lower the marks themselves.
"""

from __future__ import annotations

from django.core.mail import mail_admins
from django.db import models, transaction
from django.db.models import Count, Max
from django.utils import timezone

from audit.models import IntegrityCheckRun, IntegrityIncident
from cairn_core.problems import Code, Problem
from provenance import marks

# The tables whose rows Cairn never deletes, by mark name.
TABLES: dict[str, tuple[str, type[models.Model]]] = {
    "incidents": ("integrity incidents", IntegrityIncident),
    "check_runs": ("integrity check runs", IntegrityCheckRun),
}


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
            transaction.on_commit(remember)
    return fresh


def table_mark(model: type[models.Model]) -> marks.Mark:
    found = model._default_manager.aggregate(high=Max("id"), count=Count("id"))
    return marks.Mark(found["high"] or 0, found["count"])


def remember(*, rebase: bool = False) -> None:
    """Raise the tables' marks to their rows now (call after commit).

    `rebase`: set them to the rows even when lower, once a deletion has
    been recorded as an incident, so that it is reported once.
    """
    for name, (_label, model) in TABLES.items():
        if rebase:
            marks.reset(name, table_mark(model))
        else:
            marks.raise_to(name, table_mark(model))


def deleted() -> list[Problem]:
    """Tables with fewer rows, or a lower highest id, than a mark remembers."""
    problems = []
    for name, (label, model) in TABLES.items():
        held = marks.read(name)  # before the rows: a mark is raised after its rows committed
        rows = table_mark(model)
        for where, mark in held.items():
            if rows.high < mark.high or rows.count < mark.count:
                message = (
                    f"{label} deleted: the {where} mark counted {mark.count} rows up to id {mark.high}, "
                    f"the table has {rows.count} up to id {rows.high}"
                )
                problems.append(Problem(0, Code.INCIDENTS_DELETED, message))
    return problems


def _mail(incidents: list[IntegrityIncident], detected_by: str) -> None:
    lines = [f"index {incident.index}: {incident.message}" for incident in incidents]
    mail_admins(
        f"Ledger integrity: {len(incidents)} new problem(s) found by {detected_by}",
        "\n".join(lines) + "\n\nSee Audit > Integrity incidents in the admin.\n",
    )
