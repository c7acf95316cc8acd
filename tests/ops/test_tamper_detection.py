"""From one changed byte to an open incident, with the real Celery beat and
worker of the Procfile: the sweep's schedule shortened by configuration only
(CAIRN_SWEEP_EVERY_SECONDS), nothing run by hand.

The figure printed is the time from the change to the incident; it is at
most the sweep's interval plus one sweep, so at the default 240 s schedule
it stays within CAIRN_TAMPER_DETECTION_SECONDS (300 s).
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.db import connection

from audit.models import IntegrityCheckRun, IntegrityIncident
from provenance import checkpoints
from provenance.models import Entry
from tests.ops.stack import Procfile, database_url, needs_services, production_environment, wait_until
from tests.support import mine_to_claim

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.celery_worker,
    pytest.mark.drill,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
VIN = "1HGCM82633A004399"
EVERY = 15  # seconds between sweeps in this test


def change_one_byte(index: int) -> None:
    """One character of the stored envelope's signature, as someone with database access would."""
    envelope = Entry.objects.get(index=index).envelope
    position = envelope.index('"sig":"') + len('"sig":"') + 5
    changed = envelope[:position] + ("A" if envelope[position] != "A" else "B") + envelope[position + 1 :]
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute('UPDATE provenance_entry SET envelope = %s WHERE "index" = %s', [changed, index])
        cursor.execute("SET session_replication_role = origin")


def test_a_changed_byte_opens_an_incident_within_the_window(tmp_path, ledger, miner, refiner, maker):
    needs_services()
    mine_to_claim(ledger, miner, refiner, maker, VIN)
    checkpoints.publish_checkpoint()
    env = production_environment(
        tmp_path / "var",
        database_url(connection.settings_dict),
        settings.CELERY_BROKER_URL,
        CAIRN_SWEEP_EVERY_SECONDS=EVERY,
        CAIRN_INCREMENTAL_CHECK_EVERY_SECONDS=EVERY,
    )
    run = Procfile(env, tmp_path / "honcho.log")
    try:
        run.wait_ready()
        # A first sweep of the intact log, so that the change lands between two sweeps.
        sweeps = IntegrityCheckRun.objects.filter(kind="sweep", finished_at__isnull=False)
        wait_until(lambda: sweeps.exists(), "beat's first sweep", 3 * EVERY + 60)
        # (The schedule's own incidents may be there: this run's rows are shortened, the full check's is not run.)
        before = list(IntegrityIncident.objects.values_list("code", "message"))
        assert not [item for item in before if item[0] not in ("schedule", "checks_stale")], before
        target = Entry.objects.filter(type="transform").order_by("index").first().index
        changed_at = time.monotonic()
        change_one_byte(target)
        wait_until(
            lambda: IntegrityIncident.objects.filter(suspect=f"entry #{target}").exists(),
            "an incident naming the changed entry",
            settings.CAIRN_TAMPER_DETECTION_SECONDS,
            interval=0.5,
        )
        seconds = time.monotonic() - changed_at
        print(f"one changed byte of entry #{target} was an open incident after {seconds:.1f} s (sweep every {EVERY} s)")
        incident = IntegrityIncident.objects.get(suspect=f"entry #{target}")
        assert incident.state == "open" and "signature fails" in incident.message
        assert incident.consequences["claims"] == [VIN]
        # The goal (issue: under 5 minutes) is the default detection window; on a loaded host a sweep
        # can wait behind the worker's other tasks, so no tighter bound than the window is asserted.
        assert seconds < settings.CAIRN_TAMPER_DETECTION_SECONDS
        run.stop()
    finally:
        if run.process.poll() is None:
            run.kill()
