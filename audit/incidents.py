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

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.mail import mail_admins
from django.db import models, transaction
from django.db.models import Count, Max
from django.utils import timezone

from audit import consequences, suspects
from audit.models import IntegrityCheckRun, IntegrityIncident
from cairn_core.problems import Code, Problem, ProblemDict
from provenance import marks

# The tables whose rows Cairn never deletes, by mark name.
TABLES: dict[str, tuple[str, type[models.Model]]] = {
    "incidents": ("integrity incidents", IntegrityIncident),
    "check_runs": ("integrity check runs", IntegrityCheckRun),
}


def record_problems(problems: list[Problem], *, detected_by: str) -> list[IntegrityIncident]:
    """Store one incident per suspect row (audit.suspects) not yet recorded,
    with what rests on it (audit.consequences); mail ADMINS after commit.

    A finding seen before is not stored or mailed again, so a check that
    runs every few minutes reports a broken entry once; new problems of a
    suspect whose incident is unresolved are added to that incident.
    """
    problems = list(dict.fromkeys(problems))
    if not problems:
        return []
    findings = suspects.group(problems, consequences.chains(suspects.altered_entries(problems)))
    now = timezone.now()
    with transaction.atomic():
        fresh = [incident for finding in findings if (incident := _new_incident(finding, now, detected_by))]
        # ignore_conflicts: a concurrent check may record the same finding.
        IntegrityIncident.objects.bulk_create(fresh, ignore_conflicts=True)
        if fresh:
            transaction.on_commit(lambda: _mail(fresh, detected_by))
            transaction.on_commit(remember)
    return fresh


def holding(problems: Iterable[Mapping[str, Any]]) -> list[IntegrityIncident]:
    """The incidents that hold any of `problems` (contract §5's shape, as a
    stored verdict keeps them), whoever found them first: a problem seen
    before is not recorded again, but merged into its suspect's incident, so
    a verdict's problems may sit in incidents an earlier check opened."""
    wanted = {(item["index"], item["code"], item["message"]) for item in problems}
    if not wanted:
        return []
    return [
        incident
        for incident in IntegrityIncident.objects.order_by("id").iterator(chunk_size=500)
        if any((item["index"], item["code"], item["message"]) in wanted for item in incident.problems)
    ]


def _new_incident(finding: suspects.Finding, now: dt.datetime, detected_by: str) -> IntegrityIncident | None:
    """The incident of a finding, or None when it is recorded already (merged
    into its suspect's unresolved incident when it adds problems)."""
    found = [problem.as_dict() for problem in finding.problems]
    if finding.suspect:
        current = (
            IntegrityIncident.objects.select_for_update()
            .filter(suspect=finding.suspect)
            .exclude(state=IntegrityIncident.State.RESOLVED)
            .first()
        )
        if current is not None:
            _merge(current, finding, found)
            return None
        fingerprint = hashlib.sha256(
            "\n".join([finding.suspect, *sorted(problem.fingerprint for problem in finding.problems)]).encode()
        ).hexdigest()
    else:
        fingerprint = finding.problems[0].fingerprint
    if IntegrityIncident.objects.filter(fingerprint=fingerprint).exists():
        return None
    rests = consequences.of(finding)
    return IntegrityIncident(
        fingerprint=fingerprint,
        index=finding.index,
        code=finding.code,
        message=finding.summary(rests["claims"]),  # type: ignore[arg-type]
        suspect=finding.suspect,
        consequences=rests,
        problems=found,
        detected_at=now,
        detected_by=detected_by,
    )


def _merge(incident: IntegrityIncident, finding: suspects.Finding, found: list[ProblemDict]) -> None:
    known = {(item["index"], item["code"], item["message"]) for item in incident.problems}
    added = [item for item in found if (item["index"], item["code"], item["message"]) not in known]
    if not added:
        return
    merged = suspects.Finding(
        finding.suspect,
        incident.index if incident.index is not None else finding.index,
        [Problem.from_dict(item) for item in [*incident.problems, *added]],
        finding.entry,
        sorted({*finding.chains, *incident.consequences.get("chains", [])}),
    )
    rests = consequences.of(merged)
    incident.problems = [*incident.problems, *added]
    incident.consequences = rests
    incident.message = merged.summary(rests["claims"])  # type: ignore[arg-type]
    incident.save(update_fields=["problems", "consequences", "message"])


def refresh_consequences() -> list[IntegrityIncident]:
    """Bring every unresolved incident's consequences up to the ledger as it stands.

    A claim appended after an incident was opened, whose upstream includes
    the suspect row, rests on it as much as the claims found with it: it is
    added (and with it its verdicts, which integrity_warnings then flag).
    Run after every periodic check and every verification; the incidents
    that changed.
    """
    changed = []
    with transaction.atomic():
        current = IntegrityIncident.objects.select_for_update().exclude(state=IntegrityIncident.State.RESOLVED)
        for incident in current.exclude(suspect="").order_by("id"):
            finding = finding_of(incident)
            rests = consequences.of(finding)
            if rests == incident.consequences:
                continue
            incident.consequences = rests
            incident.message = finding.summary(rests["claims"])  # type: ignore[arg-type]
            incident.save(update_fields=["consequences", "message"])
            changed.append(incident)
    return changed


def finding_of(incident: IntegrityIncident) -> suspects.Finding:
    """The finding an incident records, as audit.suspects made it."""
    entry = incident.index if incident.suspect == f"entry #{incident.index}" else None
    return suspects.Finding(
        incident.suspect,
        incident.index if incident.index is not None else 0,
        [Problem.from_dict(item) for item in incident.problems],
        entry,
        sorted(set((incident.consequences or {}).get("chains", []))),
    )


class ResponseRefused(Exception):
    """An acknowledgement or resolution that cannot be recorded; the message says why."""


RESPOND_PERMISSION = "audit.respond_to_incident"


def respond(incident_id: int, *, acting_user: Any, to: str, comment: str) -> IntegrityIncident:
    """Acknowledge (`to` = "acknowledged") or resolve (`to` = "resolved") an
    incident, recording who, when and why. Auditors and superusers may
    (`audit.respond_to_incident`); a resolved incident stays resolved, and
    nothing is recorded when refused."""
    comment = comment.strip()
    if not acting_user.has_perm(RESPOND_PERMISSION):
        raise ResponseRefused("Only auditors and superusers may acknowledge or resolve incidents.")
    if to not in (IntegrityIncident.State.ACKNOWLEDGED, IntegrityIncident.State.RESOLVED):
        raise ResponseRefused("An incident can be acknowledged or resolved.")
    if not comment:
        raise ResponseRefused("Say what was done: a comment is required.")
    with transaction.atomic():
        incident = IntegrityIncident.objects.select_for_update().get(pk=incident_id)
        if incident.state == IntegrityIncident.State.RESOLVED:
            raise ResponseRefused(f"Incident {incident.pk} is resolved already.")
        now = timezone.now()
        if to == IntegrityIncident.State.ACKNOWLEDGED:
            if incident.state == IntegrityIncident.State.ACKNOWLEDGED:
                raise ResponseRefused(f"Incident {incident.pk} is acknowledged already.")
            incident.acknowledged_at, incident.acknowledged_by, incident.acknowledge_comment = now, acting_user, comment
        else:
            incident.resolved_at, incident.resolved_by, incident.resolve_comment = now, acting_user, comment
        incident.state = to
        incident.save()
    return incident


def listed(state: str | None = None) -> list[IntegrityIncident]:
    """Incidents in `state` (every one if None), newest first."""
    rows = IntegrityIncident.objects.order_by("-detected_at", "-id")
    return list(rows.filter(state=state) if state else rows)


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
    lines = []
    for incident in incidents:
        lines.append(f"index {incident.index}: {incident.message}")
        lines += [f"  - index {item['index']}: {item['message']}" for item in incident.problems]
    mail_admins(
        f"Ledger integrity: {len(incidents)} new problem(s) found by {detected_by}",
        "\n".join(lines) + "\n\nSee Audit > Integrity incidents in the admin.\n",
    )
