"""What the integrity checks guard beyond the ledger: the checkpoints published,
their own schedule, their own records (audit.watchdog, provenance.marks)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from audit import checkpoint_tasks, checks, tasks, watchdog
from audit.models import IntegrityCheckRun, IntegrityIncident
from provenance import checkpoints, marks, witnesses
from provenance.models import Checkpoint, Entry
from tests.support import start_witness, tamper

pytestmark = pytest.mark.django_db

INCREMENTAL = "Integrity check (incremental)"


def incidents(code: str) -> list[str]:
    return list(IntegrityIncident.objects.filter(code=code).order_by("id").values_list("message", flat=True))


def publish(django_capture_on_commit_callbacks) -> Checkpoint:
    with django_capture_on_commit_callbacks(execute=True):
        return checkpoints.publish_checkpoint()


@pytest.fixture
def published(chain, ledger, miner, django_capture_on_commit_callbacks) -> tuple[Checkpoint, Checkpoint]:
    """Checkpoints of every real entry so far (the ledger entries of the
    personas, then the chain's 7 attestations) and of one more, published
    (the marks raised)."""
    assert Entry.objects.exclude(type="ledger").count() == 7
    first = publish(django_capture_on_commit_callbacks)
    assert first.tree_size == Entry.objects.count()
    ledger.origin(miner)
    latest = publish(django_capture_on_commit_callbacks)
    assert latest.tree_size == first.tree_size + 1
    return first, latest


# --- checkpoint rollback -----------------------------------------------------------


def test_publishing_raises_the_mark_in_var_dir_and_the_cache(settings, published):
    _first, latest = published
    on_disk = json.loads((settings.VAR_DIR / "ledger" / "checkpoint.json").read_text())
    assert on_disk == {"high": latest.tree_size, "count": 0, "root": latest.root_hash}
    assert cache.get("cairn:mark:checkpoint") == on_disk
    assert checks.run_incremental() == []


def test_deleting_the_latest_checkpoint_is_a_rollback(published):
    first, latest = published
    tamper("DELETE FROM provenance_checkpoint WHERE tree_size = %s", [latest.tree_size])
    problems = checks.run_incremental()
    held = f"holds checkpoint {latest.tree_size}, but the latest checkpoint row is {first.tree_size}"
    assert [(p.index, p.code, p.message) for p in problems] == [
        (first.tree_size, "checkpoint_rollback", f"the file mark {held}"),
        (first.tree_size, "checkpoint_rollback", f"the cache mark {held}"),
    ]
    assert incidents("checkpoint_rollback") == [problem.message for problem in problems]


def test_the_file_alone_still_catches_it(published):
    first, latest = published
    cache.delete("cairn:mark:checkpoint")  # the insider flushed Redis too
    tamper("DELETE FROM provenance_checkpoint WHERE tree_size = %s", [latest.tree_size])
    assert [p.message for p in checks.run_incremental()] == [
        f"the file mark holds checkpoint {latest.tree_size}, but the latest checkpoint row is {first.tree_size}"
    ]


def test_another_root_at_the_published_size_is_a_rollback(published):
    _first, latest = published
    # As if another tree of the same size had been published:
    marks.reset("checkpoint", marks.Mark(latest.tree_size, root="ab" * 32))
    held = f"holds checkpoint {latest.tree_size} with root {'ab' * 32}, but its row has root {latest.root_hash}"
    assert [p.message for p in watchdog.rollback_problems(ask_witnesses=False)] == [
        f"the file mark {held}",
        f"the cache mark {held}",
    ]


def test_a_mark_never_goes_down():
    marks.raise_to("checkpoint", marks.Mark(9, root="aa"))
    marks.raise_to("checkpoint", marks.Mark(4, root="bb"))
    marks.raise_to("checkpoint", marks.Mark(9, root="cc"))
    assert marks.read("checkpoint") == {"file": marks.Mark(9, root="aa"), "cache": marks.Mark(9, root="aa")}


def test_a_cosignature_of_a_deleted_checkpoint_is_named(published):
    first, latest = published
    for checkpoint in (first, latest):
        tamper(
            "INSERT INTO provenance_cosignature (checkpoint_id, witness, line, timestamp, received_at)"
            " VALUES (%s, 'w', '— w x', 1, %s)",
            [checkpoint.tree_size, timezone.now()],
        )
    cache.delete(marks.cache_key("checkpoint"))  # only the cosignatures remember
    marks.path("checkpoint").unlink()
    tamper("DELETE FROM provenance_checkpoint WHERE tree_size = %s", [first.tree_size])
    assert [(p.code, p.message) for p in watchdog.rollback_problems(ask_witnesses=False)] == [
        ("checkpoint", f"checkpoint {first.tree_size} was cosigned, but its row is missing"),
    ]
    tamper("DELETE FROM provenance_checkpoint WHERE tree_size = %s", [latest.tree_size])
    assert [(p.code, p.message) for p in watchdog.rollback_problems(ask_witnesses=False)] == [
        (
            "checkpoint_rollback",
            f"a stored cosignature holds checkpoint {size}, but the latest checkpoint row is none",
        )
        for size in (first.tree_size, latest.tree_size)
    ]
    tamper("DELETE FROM provenance_cosignature")  # SQLite checks its foreign keys at the end


def test_a_witness_remembers_what_the_database_and_the_marks_forgot(settings, tmp_path, published):
    witness = start_witness("witness.test/w1", tmp_path / "w1")
    try:
        settings.LEDGER_WITNESSES = [witness.config]
        first, latest = published
        for checkpoint in (first, latest):
            witnesses.cosign(checkpoint, witnesses.configured()[0])
        assert witness.latest() == latest.tree_size
        assert checks.run_incremental() == []
        # The insider: the newest checkpoint, its cosignatures and both marks.
        tamper("DELETE FROM provenance_cosignature")
        tamper("DELETE FROM provenance_checkpoint WHERE tree_size = %s", [latest.tree_size])
        cache.delete(marks.cache_key("checkpoint"))
        marks.path("checkpoint").unlink()
        assert watchdog.rollback_problems(ask_witnesses=False) == []  # /health and the tasks' start
        problems = checks.run_incremental()
    finally:
        witness.stop()
    message = (
        f"witness witness.test/w1 holds checkpoint {latest.tree_size}, "
        f"but the latest checkpoint row is {first.tree_size}"
    )
    assert [(p.index, p.code, p.message) for p in problems] == [(first.tree_size, "checkpoint_rollback", message)]
    assert incidents("checkpoint_rollback") == [message]


def test_the_publisher_task_sees_the_rollback_before_it_republishes(
    eager,
    published,
    django_capture_on_commit_callbacks,
):
    first, latest = published
    tamper("DELETE FROM provenance_checkpoint WHERE tree_size = %s", [latest.tree_size])
    with django_capture_on_commit_callbacks(execute=True):
        assert checkpoint_tasks.publish_checkpoint.delay().get() == latest.tree_size  # published again, and
    held = f"holds checkpoint {latest.tree_size}, but the latest checkpoint row is {first.tree_size}"
    assert incidents("checkpoint_rollback") == [f"the file mark {held}", f"the cache mark {held}"]


# --- the schedule ------------------------------------------------------------------


def test_the_installed_schedule_passes():
    assert watchdog.schedule_problems(timezone.now()) == []


@pytest.mark.parametrize(
    "change, reason",
    [
        ("UPDATE django_celery_beat_periodictask SET enabled = false WHERE name = %s", "is disabled"),
        ("DELETE FROM django_celery_beat_periodictask WHERE name = %s", "is missing"),
        ("UPDATE django_celery_beat_periodictask SET one_off = true WHERE name = %s", "runs once only"),
        (
            "UPDATE django_celery_beat_periodictask SET task = 'celery.backend_cleanup' WHERE name = %s",
            "runs 'celery.backend_cleanup', not 'audit.check_incremental'",
        ),
    ],
)
def test_a_changed_schedule_row_is_an_incident_from_the_publisher(eager, change, reason):
    tamper(change, [INCREMENTAL])
    checkpoint_tasks.publish_checkpoint.delay().get()  # the checks' own rows do not stop it
    assert incidents("schedule") == [f"periodic task {INCREMENTAL!r} {reason}"]
    assert IntegrityIncident.objects.get(code="schedule").detected_by == "watchdog"


def test_a_stretched_interval_is_an_incident(eager):
    daily = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    tamper("UPDATE django_celery_beat_periodictask SET interval_id = %s WHERE name = %s", [daily.id, INCREMENTAL])
    checkpoint_tasks.publish_checkpoint.delay().get()
    assert incidents("schedule") == [f"periodic task {INCREMENTAL!r} runs every 86400 s, more than the 900 s allowed"]


def test_the_full_check_on_some_days_only_is_an_incident():
    full = PeriodicTask.objects.get(name="Integrity check (full)")
    full.crontab.day_of_week = "0"
    full.crontab.save()
    assert [p.message for p in watchdog.schedule_problems(timezone.now())] == [
        "periodic task 'Integrity check (full)' runs every 604800 s, more than the 86400 s allowed"
    ]


def test_the_checks_are_stale_when_no_incremental_run_finished(eager):
    checkpoint_tasks.publish_checkpoint.delay().get()
    tasks.check_incremental.delay().get()
    now = timezone.now()
    assert watchdog.schedule_problems(now + dt.timedelta(seconds=599)) == []
    stale = watchdog.schedule_problems(now + dt.timedelta(seconds=601))
    assert [p.code for p in stale] == ["checks_stale"]
    assert stale[0].message.startswith("no incremental integrity check has finished since ")
    assert stale[0].message.endswith(" UTC (600 s allowed)")
    # Deleting the runs does not hide it: then the first checkpoint counts.
    tamper("DELETE FROM audit_integritycheckrun")
    assert [p.code for p in watchdog.schedule_problems(now + dt.timedelta(seconds=601))] == ["checks_stale"]


# --- deleted incidents and check runs ----------------------------------------------


def test_deleted_incidents_are_an_incident_once(eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tamper("UPDATE django_celery_beat_periodictask SET enabled = false WHERE name = %s", [INCREMENTAL])
        checkpoint_tasks.publish_checkpoint.delay().get()
        tamper("UPDATE django_celery_beat_periodictask SET enabled = false WHERE name = 'Publish checkpoint'")
        checkpoint_tasks.publish_checkpoint.delay().get()
    assert IntegrityIncident.objects.count() == 2
    high = IntegrityIncident.objects.order_by("-id").first()
    assert marks.read("incidents")["file"] == marks.Mark(high.id, 2)
    tamper("DELETE FROM audit_integrityincident WHERE id = %s", [high.id])
    for _ in range(2):
        checkpoint_tasks.publish_checkpoint.delay().get()
    assert incidents("incidents_deleted") == [
        f"integrity incidents deleted: the file mark counted 2 rows up to id {high.id}, "
        f"the table has 1 up to id {high.id - 1}",
        f"integrity incidents deleted: the cache mark counted 2 rows up to id {high.id}, "
        f"the table has 1 up to id {high.id - 1}",
    ]


def test_deleted_check_runs_are_an_incident(eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tasks.check_incremental.delay().get()
        tasks.check_incremental.delay().get()
    assert IntegrityCheckRun.objects.count() == 2
    tamper("DELETE FROM audit_integritycheckrun")
    assert [p.message.split(":")[0] for p in tasks_watch()] == ["integrity check runs deleted"] * 2


def tasks_watch() -> list:
    return [p for p in watchdog.watch(detected_by="watchdog") if p.code == "incidents_deleted"]
