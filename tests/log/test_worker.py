"""A real Celery worker (prefork, two processes) against Redis and PostgreSQL.

The worker is a subprocess pointed at the test database; the test commits
its rows (transactional test) so the worker sees them. Skipped on SQLite or
without a Redis broker, where test_tasks.py covers the same tasks eagerly.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from audit import checkpoint_tasks, tasks
from audit.models import IntegrityCheckRun, IntegrityIncident
from provenance import checkpoints
from provenance.models import Entry
from tests.support import attestation, change_leaf_hash, delete_entry, mine_to_claim, stop, worker_environment

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
TIMEOUT = 60


@pytest.fixture
def worker(ledger_key_dir):
    if connection.vendor != "postgresql":
        pytest.skip("a real worker needs PostgreSQL: SQLite's test database is private to pytest")
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("a real worker test needs CELERY_BROKER_URL=redis://...")
    celery = Path(sys.executable).with_name("celery")
    process = subprocess.Popen(
        [
            str(celery),
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=settings.BASE_DIR,
        env=worker_environment(ledger_key_dir),
        start_new_session=True,  # its own process group: the pool children die with it
    )
    try:
        yield process
    finally:
        stop(process)


def wait_for(worker, predicate, what: str):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited with {worker.returncode}")
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def run(worker, task, **kwargs):
    """Send a task to the worker and wait for its result."""
    result = task.apply_async(kwargs=kwargs)
    wait_for(worker, result.ready, task.name)
    return result.get(timeout=1)


def incidents() -> list[tuple[int, str, str]]:
    rows = IntegrityIncident.objects.order_by("index", "code").values_list("index", "code", "detected_by")
    return list(rows)


@pytest.fixture
def committed_chain(ledger, miner, refiner, maker):
    # Appended inside the test's own transaction, not through the sequencer
    # thread, whose open connection would keep the test database busy.
    with transaction.atomic():
        return mine_to_claim(ledger, miner, refiner, maker, "1HGCM82633A004352")


def test_the_worker_runs_the_checks_and_records_incidents(worker, committed_chain):
    size = Entry.objects.count()  # the personas' ledger entries and the chain
    assert run(worker, checkpoint_tasks.publish_checkpoint) == size
    changed, deleted = attestation(2), attestation(5)
    change_leaf_hash(changed)
    delete_entry(deleted)

    assert run(worker, tasks.check_incremental) >= 2
    assert (changed, "leaf_hash", "check_incremental") in incidents()
    assert (deleted, "missing_entry", "check_incremental") in incidents()

    # The full check fans out to ranges; the chord's body closes the run.
    run_id = run(worker, tasks.check_full, parts=3)
    full = wait_for(
        worker,
        lambda: IntegrityCheckRun.objects.filter(id=run_id, finished_at__isnull=False).first(),
        "the full check's chord to finish",
    )
    assert full.problem_count >= 2
    # Found again by the full check, but recorded once (the deletion has
    # consequences beside, such as the batch state it leaves unexplained).
    assert [row for row in incidents() if row[:2] in {(changed, "leaf_hash"), (deleted, "missing_entry")}] == [
        (changed, "leaf_hash", "check_incremental"),
        (deleted, "missing_entry", "check_incremental"),
    ]
    assert checkpoints.latest().tree_size == size
