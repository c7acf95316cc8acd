"""Celery tasks of the integrity checks: thin adapters over audit.checks
(incremental, sweep, full in parts) and the verdict monitor.

Each is harmless if delivered twice: a problem found twice is recorded
once. The schedule that runs them lives in audit/schedule.py; each periodic
task first runs the watchdog (audit.watchdog), which checks that schedule
itself. Publishing checkpoints is audit/checkpoint_tasks.py's.
"""

from __future__ import annotations

from celery import chord, shared_task
from django.conf import settings
from django.utils import timezone

from audit import checks, incidents, integrity, ledger_views, reverify, verdict_monitor, watchdog
from audit.models import IntegrityCheckPart, IntegrityCheckRun
from cairn_core.problems import Problem, ProblemDict
from provenance import tlog


@shared_task(name="audit.check_incremental")
def check_incremental() -> int:
    """Check entries logged since the last run; returns the number of problems."""
    watchdog.watch_safely(detected_by="watchdog")
    found = len(checks.run_incremental(detected_by="check_incremental"))
    reverify.reverify_undermined()
    return found


@shared_task(name="audit.check_sweep")
def check_sweep() -> int:
    """Every stored row hashed against the latest checkpoint and the range
    seals, signatures checked where something differs (audit.sweep);
    returns the number of problems."""
    watchdog.watch_safely(detected_by="watchdog")
    found = len(checks.run_sweep(detected_by="check_sweep"))
    reverify.reverify_undermined()
    return found


@shared_task(name="audit.check_full")
def check_full(parts: int | None = None, run_id: int | None = None) -> int:
    """Re-read the whole ledger: ranges checked in parallel, joined by a chord.

    Every range is a separate task, so each worker on each machine takes
    ranges until none is left; the chord's body records the joined result.
    `run_id`: a run already recorded (by the dashboard, so that it shows the
    check as queued before a worker takes it). Returns the run's id.
    """
    watchdog.watch_safely(detected_by="watchdog")
    if run_id is None:
        run = checks.start_run(IntegrityCheckRun.Kind.FULL, 0, tlog.current_size())
    else:
        run = IntegrityCheckRun.objects.get(id=run_id, kind=IntegrityCheckRun.Kind.FULL)
        if run.finished_at is not None or run.parts.exists():
            return run.id  # delivered twice: its parts are on their way already
    size = run.end
    count = parts or int(getattr(settings, "CAIRN_INTEGRITY_PARTS", 16))
    ranges = checks.split(size, count, int(getattr(settings, "CAIRN_INTEGRITY_MIN_RANGE", 1000)))
    if not ranges:
        finish_full_check([], run.id)
    else:
        # One row per range, so that the dashboard shows the run's progress.
        IntegrityCheckPart.objects.bulk_create(IntegrityCheckPart(run=run, start=a, end=b) for a, b in ranges)
        rows = IntegrityCheckPart.objects.filter(run=run).values_list("start", "end", "pk")
        chord(check_range.s(start, end, pk) for start, end, pk in rows)(finish_full_check.s(run.id))
    return run.id


@shared_task(name="audit.check_range")
def check_range(start: int, end: int, part_id: int | None = None) -> list[ProblemDict]:
    """Check entries [start, end); mark the full check's part done, if given."""
    problems = integrity.check_range(start, end)
    if part_id is not None:
        IntegrityCheckPart.objects.filter(pk=part_id).update(finished_at=timezone.now(), problem_count=len(problems))
    return [problem.as_dict() for problem in problems]


@shared_task(name="audit.finish_full_check")
def finish_full_check(results: list[list[ProblemDict]], run_id: int) -> int:
    """The chord's join: add the checkpoint checks, record, close the run."""
    problems = [Problem.from_dict(item) for part in results for item in part]
    problems += integrity.check_tree_against_checkpoints()
    problems += watchdog.rollback_problems(ask_witnesses=True)
    problems += ledger_views.check_ledger_tables()
    problems += verdict_monitor.check_verdicts()
    run = IntegrityCheckRun.objects.get(id=run_id)
    found = len(checks.finish_run(run, integrity.in_order(problems), detected_by="check_full"))
    reverify.reverify_undermined()
    return found


@shared_task(name="audit.monitor_verdicts")
def monitor_verdicts() -> int:
    """Every verdict in the log, by VIN: intact verdicts that disagree with no
    rules entry between them are incidents (the incremental check runs the
    same monitor). Returns the number of disagreements."""
    problems = verdict_monitor.check_verdicts()
    incidents.record_problems(problems, detected_by="monitor_verdicts")
    return len(problems)
