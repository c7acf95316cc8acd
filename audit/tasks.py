"""Celery tasks: thin adapters over provenance.checkpoints and audit.checks.

Each is harmless if delivered twice: publishing is idempotent for an
unchanged tree, and a problem found twice is recorded once. The schedule
that runs them lives in audit/schedule.py.
"""

from __future__ import annotations

from celery import chord, shared_task
from django.conf import settings

from audit import checks, integrity
from audit.integrity import Problem
from audit.models import IntegrityCheckRun
from provenance import checkpoints, tlog


@shared_task(name="audit.publish_checkpoint")
def publish_checkpoint() -> int:
    """Sign a checkpoint when the tree has grown (or of the empty tree at the
    start); returns its tree size."""
    return checkpoints.publish_checkpoint().tree_size


@shared_task(name="audit.check_incremental")
def check_incremental() -> int:
    """Check entries logged since the last run; returns the number of problems."""
    return len(checks.run_incremental(detected_by="check_incremental"))


@shared_task(name="audit.check_full")
def check_full(parts: int | None = None) -> int:
    """Re-read the whole ledger: ranges checked in parallel, joined by a chord.

    Every range is a separate task, so each worker on each machine takes
    ranges until none is left; the chord's body records the joined result.
    Returns the run's id.
    """
    size = tlog.current_size()
    run = checks.start_run(IntegrityCheckRun.Kind.FULL, 0, size)
    parts = parts or getattr(settings, "CAIRN_INTEGRITY_PARTS", 16)
    ranges = checks.split(size, parts, getattr(settings, "CAIRN_INTEGRITY_MIN_RANGE", 1000))
    if not ranges:
        finish_full_check([], run.id)
    else:
        chord(check_range.s(start, end) for start, end in ranges)(finish_full_check.s(run.id))
    return run.id


@shared_task(name="audit.check_range")
def check_range(start: int, end: int) -> list[dict]:
    return [problem.as_dict() for problem in integrity.check_range(start, end)]


@shared_task(name="audit.finish_full_check")
def finish_full_check(results: list[list[dict]], run_id: int) -> int:
    """The chord's join: add the checkpoint checks, record, close the run."""
    problems = [Problem.from_dict(item) for part in results for item in part]
    problems += integrity.check_tree_against_checkpoints()
    run = IntegrityCheckRun.objects.get(id=run_id)
    return len(checks.finish_run(run, integrity.in_order(problems), detected_by="check_full"))
