"""Integrity check runs: what the Celery tasks and verify_ledger call.

A run covers entries [start, end), records its problems as incidents and
remembers how far it got, so the next incremental run starts there.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from audit import incidents, integrity, ledger_views, sweep, verdict_monitor, watchdog
from audit.models import IntegrityCheckPart, IntegrityCheckRun
from cairn_core.problems import Problem
from provenance import tlog

Kind = IntegrityCheckRun.Kind


def start_run(kind: str, start: int, end: int) -> IntegrityCheckRun:
    return IntegrityCheckRun.objects.create(kind=kind, start=start, end=end, started_at=timezone.now())


def finish_run(run: IntegrityCheckRun, problems: list[Problem], *, detected_by: str) -> list[Problem]:
    incidents.record_problems(problems, detected_by=detected_by)
    incidents.refresh_consequences()
    run.finished_at = timezone.now()
    run.problem_count = len(problems)
    run.save(update_fields=["finished_at", "problem_count"])
    transaction.on_commit(incidents.remember)
    return problems


def checked_up_to() -> int:
    """The end of the furthest finished incremental or full run."""
    finished = IntegrityCheckRun.objects.filter(finished_at__isnull=False, kind__in=[Kind.INCREMENTAL, Kind.FULL])
    return finished.aggregate(end=Max("end"))["end"] or 0


def run_incremental(*, detected_by: str = "check_incremental") -> list[Problem]:
    """Check the entries logged since the last run, and the checkpoints since;
    the latest checkpoint against what was published (the witnesses asked)."""
    start = checked_up_to()
    end = tlog.current_size()
    run = start_run(Kind.INCREMENTAL, start, end)
    problems = integrity.check_range(start, end) if end > start else []
    problems += integrity.check_tree_against_checkpoints(since_size=start)
    problems += watchdog.rollback_problems(ask_witnesses=True)
    # The tables that decide verdicts, rebuilt from every ledger entry: few, so each time.
    problems += ledger_views.check_ledger_tables()
    problems += verdict_monitor.check_verdicts()
    return finish_run(run, integrity.in_order(problems), detected_by=detected_by)


def run_sweep(*, detected_by: str = "check_sweep") -> list[Problem]:
    """One sweep of every stored row (audit.sweep), recorded as a run over the checkpoint's size."""
    run = start_run(Kind.SWEEP, 0, tlog.current_size())
    done = sweep.sweep()
    return finish_run(run, done.problems, detected_by=detected_by)


def split(size: int, parts: int, minimum: int) -> list[tuple[int, int]]:
    """[0, size) cut into about `parts` ranges of at least `minimum` entries."""
    step = max(minimum, -(-size // max(parts, 1)))
    return [(start, min(start + step, size)) for start in range(0, size, step)]


# --- when each part of the ledger was last checked ---------------------------------

# Runs read to tell when each part was last checked: those since the latest
# finished full run (it covered everything before them), at most this many.
COVERAGE_RUNS = 500


@dataclass(frozen=True)
class Checked:
    """Entries [start, end), last checked (every check) at `at` by a `kind` run; None: never."""

    start: int
    end: int
    at: dt.datetime | None
    kind: str

    @property
    def size(self) -> int:
        return self.end - self.start


def last_checked(size: int, checked: Iterable[tuple[int, int, dt.datetime, str]]) -> list[Checked]:
    """[0, size) cut where the latest check covering it changes.

    `checked` holds (start, end, finished at, kind) of finished checks: runs
    of any kind and the finished parts of full runs. Pure, for the dashboard.
    """
    spans = [(max(start, 0), min(end, size), at, kind) for start, end, at, kind in checked]
    spans = [span for span in spans if span[0] < span[1]]
    cuts = sorted({0, size, *(span[0] for span in spans), *(span[1] for span in spans)})
    cuts = [cut for cut in cuts if 0 <= cut <= size]
    latest: list[tuple[dt.datetime, str] | None] = [None] * (len(cuts) - 1)
    # The latest check paints first; older ones fill what is left.
    for start, end, at, kind in sorted(spans, key=lambda span: span[2], reverse=True):
        for segment in range(bisect.bisect_left(cuts, start), bisect.bisect_left(cuts, end)):
            if latest[segment] is None:
                latest[segment] = (at, kind)
    rows: list[Checked] = []
    for segment, found in enumerate(latest):
        when, how = found if found else (None, "")
        if rows and (rows[-1].at, rows[-1].kind) == (when, how):
            rows[-1] = Checked(rows[-1].start, cuts[segment + 1], when, how)
        else:
            rows.append(Checked(cuts[segment], cuts[segment + 1], when, how))
    return rows


def ledger_coverage(size: int) -> list[Checked]:
    """When each part of the ledger (of `size` entries) was last checked, from the stored runs."""
    finished = IntegrityCheckRun.objects.filter(finished_at__isnull=False)
    last_full = finished.filter(kind=Kind.FULL, start=0).order_by("-finished_at").values("finished_at")[:1]
    since = last_full[0]["finished_at"] if last_full else None
    runs = finished.filter(finished_at__gte=since) if since else finished
    latest = runs.order_by("-finished_at").values_list("start", "end", "finished_at", "kind")[:COVERAGE_RUNS]
    spans = [(start, end, at, kind) for start, end, at, kind in latest if at is not None]
    parts = IntegrityCheckPart.objects.filter(finished_at__isnull=False, run__finished_at__isnull=True)
    spans += [
        (start, end, at, "full (part)")
        for start, end, at in parts.values_list("start", "end", "finished_at")
        if at is not None
    ]
    return last_checked(size, spans)


@dataclass(frozen=True)
class FullCheckProgress:
    run: IntegrityCheckRun
    parts: int
    parts_done: int

    @property
    def running(self) -> bool:
        return self.run.finished_at is None

    @property
    def percent(self) -> int:
        return 100 if not self.parts else round(100 * self.parts_done / self.parts)


def full_check_progress() -> FullCheckProgress | None:
    """The latest full run and how many of its parts are done."""
    run = IntegrityCheckRun.objects.filter(kind=Kind.FULL).order_by("-started_at", "-id").first()
    if run is None:
        return None
    parts = run.parts.aggregate(total=Count("id"), done=Count("id", filter=Q(finished_at__isnull=False)))
    return FullCheckProgress(run, parts["total"], parts["done"])
