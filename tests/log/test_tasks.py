"""The Celery tasks (eager here; test_worker.py runs a real worker) and incidents."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from audit import checkpoint_tasks, tasks
from audit.models import IntegrityCheckRun, IntegrityIncident
from audit.schedule import install_schedule
from provenance.models import Checkpoint, Entry
from tests.support import append_bare_leaves, attestation, change_leaf_hash, change_prev_link, delete_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins(settings):
    settings.ADMINS = [("Ledger ops", "ops@example.com")]


def incidents() -> list[tuple[int, str, str]]:
    return list(IntegrityIncident.objects.order_by("index", "id").values_list("index", "code", "detected_by"))


def test_publish_checkpoint_task_publishes_only_when_the_tree_grew(eager):
    assert checkpoint_tasks.publish_checkpoint.delay().get() == 0  # the empty tree, signed (contract §7)
    append_bare_leaves(4)
    assert checkpoint_tasks.publish_checkpoint.delay().get() == 4
    assert checkpoint_tasks.publish_checkpoint.delay().get() == 4
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [0, 4]


def test_incremental_check_records_each_problem_once_and_mails_once(
    eager, admins, chain, mailoutbox, django_capture_on_commit_callbacks
):
    checkpoint_tasks.publish_checkpoint.delay()
    index = attestation(4)
    change_leaf_hash(index)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            tasks.check_incremental.delay()
    assert incidents() == [(index, "leaf_hash", "check_incremental")]
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["ops@example.com"]
    assert f"index {index}: stored leaf_hash is not the hash" in mailoutbox[0].body


def test_incremental_check_resumes_where_it_stopped(eager, ledger, miner, chain):
    size = Entry.objects.count()  # the personas' ledger entries and the chain
    assert tasks.check_incremental.delay().get() == 0
    ledger.origin(miner)
    tasks.check_incremental.delay()
    runs = IntegrityCheckRun.objects.order_by("id").values_list("kind", "start", "end", "problem_count")
    assert list(runs) == [("incremental", 0, size, 0), ("incremental", size, size + 1, 0)]
    # The chain's claim, checked already; not the tree's last leaf, which the
    # frontier check reads at every run.
    claim = Entry.objects.get(type="claim").index
    assert claim < size  # in the first run's range; the origin is the last leaf
    change_leaf_hash(claim)
    assert tasks.check_incremental.delay().get() == 0  # it was checked already
    assert tasks.check_full.delay(parts=3).get()
    assert incidents() == [(claim, "leaf_hash", "check_full")]


@pytest.mark.parametrize(
    "drill, code",
    [
        (change_prev_link, "link"),
        (delete_entry, "missing_entry"),
    ],
)
def test_full_check_runs_ranges_as_a_chord_and_names_the_index(eager, chain, drill, code):
    checkpoint_tasks.publish_checkpoint.delay()
    size, index = Entry.objects.count(), attestation(3)
    drill(index)
    run_id = tasks.check_full.delay(parts=3).get()
    run = IntegrityCheckRun.objects.get(id=run_id)
    assert (run.kind, run.start, run.end) == ("full", 0, size)
    assert run.finished_at is not None and run.problem_count >= 1
    assert incidents()[0] == (index, code, "check_full")


def test_full_check_of_an_empty_log(eager):
    run_id = tasks.check_full.delay().get()
    assert IntegrityCheckRun.objects.get(id=run_id).problem_count == 0


def test_the_schedule_is_installed_once_and_admin_edits_survive():
    names = set(PeriodicTask.objects.values_list("name", "task"))
    assert names >= {
        ("Publish checkpoint", "audit.publish_checkpoint"),
        ("Integrity check (incremental)", "audit.check_incremental"),
        ("Integrity check (full)", "audit.check_full"),
    }
    task = PeriodicTask.objects.get(name="Publish checkpoint")
    assert (task.interval.every, task.interval.period) == (1, "minutes")
    task.enabled = False
    task.save()
    install_schedule()
    assert not PeriodicTask.objects.get(name="Publish checkpoint").enabled
    full = PeriodicTask.objects.get(name="Integrity check (full)")
    assert (full.crontab.minute, full.crontab.hour) == ("30", "2")
