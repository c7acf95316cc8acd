"""Integrity check runs: what the Celery tasks and verify_ledger call.

A run covers entries [start, end), records its problems as incidents and
remembers how far it got, so the next incremental run starts there.
"""

from __future__ import annotations

from django.db.models import Max
from django.utils import timezone

from audit import incidents, integrity
from audit.models import IntegrityCheckRun
from cairn_core.problems import Problem
from provenance import tlog

Kind = IntegrityCheckRun.Kind


def start_run(kind: str, start: int, end: int) -> IntegrityCheckRun:
    return IntegrityCheckRun.objects.create(kind=kind, start=start, end=end, started_at=timezone.now())


def finish_run(run: IntegrityCheckRun, problems: list[Problem], *, detected_by: str) -> list[Problem]:
    incidents.record_problems(problems, detected_by=detected_by)
    run.finished_at = timezone.now()
    run.problem_count = len(problems)
    run.save(update_fields=["finished_at", "problem_count"])
    return problems


def checked_up_to() -> int:
    """The end of the furthest finished incremental or full run."""
    finished = IntegrityCheckRun.objects.filter(finished_at__isnull=False, kind__in=[Kind.INCREMENTAL, Kind.FULL])
    return finished.aggregate(end=Max("end"))["end"] or 0


def run_incremental(*, detected_by: str = "check_incremental") -> list[Problem]:
    """Check the entries logged since the last run, and the checkpoints since."""
    start = checked_up_to()
    end = tlog.current_size()
    run = start_run(Kind.INCREMENTAL, start, end)
    problems = integrity.check_range(start, end) if end > start else []
    problems += integrity.check_tree_against_checkpoints(since_size=start)
    return finish_run(run, integrity.in_order(problems), detected_by=detected_by)


def split(size: int, parts: int, minimum: int) -> list[tuple[int, int]]:
    """[0, size) cut into about `parts` ranges of at least `minimum` entries."""
    step = max(minimum, -(-size // max(parts, 1)))
    return [(start, min(start + step, size)) for start in range(0, size, step)]
