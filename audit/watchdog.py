"""What watches the integrity checks: their schedule, their freshness, their records.

An insider with the database can stop the checks without touching the
ledger: disable or delete their django-celery-beat rows, stretch their
interval, delete the incidents they recorded, or delete the newest
checkpoint row. `watch` finds each of these:

* `schedule`: a periodic task of audit/schedule.py is missing, disabled,
  one-off, expired, runs another task, or runs less often than its setting
  allows (CAIRN_CHECKPOINT_MAX_INTERVAL, CAIRN_INTEGRITY_MAX_INTERVAL,
  CAIRN_FULL_CHECK_MAX_INTERVAL, seconds);
* `checks_stale`: no incremental check has finished for twice its interval
  (counted from the first checkpoint when no run is left);
* `incidents_deleted`: fewer incidents or check runs than their marks
  outside the database (audit.incidents);
* `checkpoint_rollback`: the latest checkpoint row is below the newest one
  published, as the checkpoint mark outside the database (provenance.marks),
  a stored cosignature or, asked by the integrity checks, a witness holds it.

It runs where a disabled schedule cannot stop it: at the start of every
periodic task (the checkpoint publisher runs every minute, and shares its
beat process and worker with the checks but not their rows), and from
/health, which reports the schedule and staleness without writing (and
never asks a witness: its checks stay bounded in time).

Limits: an insider who can stop beat or the workers stops the tasks too;
then /health fails, and a monitor outside must watch it. One who also
controls VAR_DIR and the cache can lower the local marks; the witnesses
keep the newest cosigned checkpoint in their own state.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db.models import Max, Min
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from audit import incidents
from audit.models import IntegrityCheckRun
from audit.schedule import SCHEDULE
from cairn_core.problems import Code, Problem
from provenance import marks, witnesses
from provenance.models import Checkpoint, Cosignature

log = logging.getLogger(__name__)

# The setting that bounds each task's interval, in seconds.
MAX_INTERVAL_SETTING = {
    "audit.publish_checkpoint": "CAIRN_CHECKPOINT_MAX_INTERVAL",
    "audit.check_incremental": "CAIRN_INTEGRITY_MAX_INTERVAL",
    "audit.check_full": "CAIRN_FULL_CHECK_MAX_INTERVAL",
    "audit.check_sweep": "CAIRN_TAMPER_DETECTION_SECONDS",
}
INCREMENTAL = "audit.check_incremental"
# Seconds to wait for each witness's answer (Celery tasks only).
WITNESS_TIMEOUT = 5.0
DAY = 86400.0


def watch(*, detected_by: str) -> list[Problem]:
    """Every check of this module but the witnesses'; record what it finds."""
    problems = schedule_problems(timezone.now()) + rollback_problems(ask_witnesses=False)
    deleted = incidents.deleted()
    incidents.record_problems(problems + deleted, detected_by=detected_by)
    if deleted:  # recorded once: the marks start again from the tables as they are
        incidents.remember(rebase=True)
    return problems + deleted


def watch_safely(*, detected_by: str) -> list[Problem]:
    """`watch`, which must never stop the task that runs it (logged instead)."""
    try:
        return watch(detected_by=detected_by)
    except Exception:
        log.exception("the watchdog failed")
        return []


# --- the schedule ----------------------------------------------------------------


def schedule_problems(now: dt.datetime) -> list[Problem]:
    """The periodic tasks as audit/schedule.py has them, and the last incremental run."""
    rows = {
        row.name: row for row in PeriodicTask.objects.filter(name__in=SCHEDULE).select_related("interval", "crontab")
    }
    problems = []
    for name, (task, _when) in SCHEDULE.items():
        row = rows.get(name)
        reason = "is missing" if row is None else _unfit(row, task, now)
        if reason:
            problems.append(Problem(0, Code.SCHEDULE, f"periodic task {name!r} {reason}"))
    incremental = next((row for row in rows.values() if row.task == INCREMENTAL), None)
    return problems + stale_problems(now, incremental)


def _unfit(row: PeriodicTask, task: str, now: dt.datetime) -> str:
    """Why `row` does not run `task` as often as allowed ("" when it does)."""
    if row.task != task:
        return f"runs {row.task!r}, not {task!r}"
    if not row.enabled:
        return "is disabled"
    if row.one_off:
        return "runs once only"
    if row.expires is not None and row.expires <= now:
        return f"expired at {row.expires:%Y-%m-%d %H:%M:%S}"
    seconds = interval_seconds(row)
    limit = float(getattr(settings, MAX_INTERVAL_SETTING[task]))
    if seconds is None:
        return "has no interval or crontab schedule"
    if seconds > limit:
        return f"runs every {seconds:.0f} s, more than the {limit:.0f} s allowed"
    return ""


def interval_seconds(row: PeriodicTask) -> float | None:
    """The longest wait between two runs of `row` (None: not an interval or a crontab)."""
    if row.interval is not None:
        return dt.timedelta(**{row.interval.period: row.interval.every}).total_seconds()
    if row.crontab is None:
        return None
    cron = row.crontab.schedule
    if len(cron.day_of_week) < 7 or len(cron.day_of_month) < 31 or len(cron.month_of_year) < 12:
        return 7 * DAY  # not every day: at least a week between some runs, counted as one
    times = sorted(hour * 3600 + minute * 60 for hour in cron.hour for minute in cron.minute)
    if not times:
        return None
    return float(max(later - earlier for earlier, later in zip(times, [*times[1:], times[0] + DAY], strict=True)))


def stale_problems(now: dt.datetime, incremental: PeriodicTask | None) -> list[Problem]:
    """No incremental run finished for twice its interval (bounded by its setting)."""
    limit = float(settings.CAIRN_INTEGRITY_MAX_INTERVAL)
    seconds = interval_seconds(incremental) if incremental is not None else None
    limit = 2 * min(seconds or limit, limit)
    runs = IntegrityCheckRun.objects.filter(kind=IntegrityCheckRun.Kind.INCREMENTAL, finished_at__isnull=False)
    since = runs.aggregate(last=Max("finished_at"))["last"]
    if since is None:  # none left: the checks were due since the first checkpoint
        since = Checkpoint.objects.aggregate(first=Min("published_at"))["first"]
    if since is None or (now - since).total_seconds() <= limit:
        return []
    message = f"no incremental integrity check has finished since {since:%Y-%m-%d %H:%M:%S} UTC ({limit:.0f} s allowed)"
    return [Problem(0, Code.CHECKS_STALE, message)]


# --- checkpoint rollback -----------------------------------------------------------


def rollback_problems(*, ask_witnesses: bool) -> list[Problem]:
    """The latest checkpoint row against every memory of what was published.

    The marks are read before the rows: each is raised only after its row
    committed, so a row read afterwards is never below an honest mark.
    """
    held = {f"the {where} mark": mark for where, mark in marks.read("checkpoint").items()}
    if ask_witnesses:
        held.update(witness_marks())
    latest = Checkpoint.objects.order_by("-tree_size").values_list("tree_size", "root_hash").first()
    problems = [problem for where, mark in held.items() if (problem := _below(where, mark, latest))]
    return problems + orphan_cosignatures(latest[0] if latest else None)


def _below(where: str, mark: marks.Mark, latest: tuple[int, str] | None) -> Problem | None:
    size, root = latest if latest else (None, "")
    index = max(mark.high - 1, 0)
    if size is None or mark.high > size:
        row = "none" if size is None else str(size)
        message = f"{where} holds checkpoint {mark.high}, but the latest checkpoint row is {row}"
        return Problem(index, Code.CHECKPOINT_ROLLBACK, message)
    if mark.high == size and mark.root and mark.root != root:
        message = f"{where} holds checkpoint {size} with root {mark.root}, but its row has root {root}"
        return Problem(index, Code.CHECKPOINT_ROLLBACK, message)
    return None


def witness_marks() -> dict[str, marks.Mark]:
    """The largest tree each configured witness cosigned, asked (none when it does not answer)."""
    latest = Checkpoint.objects.order_by("-tree_size").first()
    if latest is None:
        return {}  # nothing to ask with; the other marks still count
    held = {}
    for witness in witnesses.configured():
        size = witnesses.held_size(witness, latest, timeout=WITNESS_TIMEOUT)
        if size is not None:
            held[f"witness {witness.name}"] = marks.Mark(size)
    return held


def orphan_cosignatures(latest: int | None) -> list[Problem]:
    """Stored cosignatures of checkpoints that have no row (the rows deleted, the cosignatures not)."""
    sizes = (
        Cosignature.objects.exclude(checkpoint_id__in=Checkpoint.objects.values("tree_size"))
        .order_by()  # not by the checkpoint: that joins its row, which is what is missing
        .values_list("checkpoint_id", flat=True)
        .distinct()
    )
    problems = []
    for size in sorted(set(sizes)):
        if latest is None or size > latest:
            row = "none" if latest is None else str(latest)
            message = f"a stored cosignature holds checkpoint {size}, but the latest checkpoint row is {row}"
            problems.append(Problem(max(size - 1, 0), Code.CHECKPOINT_ROLLBACK, message))
        else:
            message = f"checkpoint {size} was cosigned, but its row is missing"
            problems.append(Problem(max(size - 1, 0), Code.CHECKPOINT, message))
    return problems
