"""GET /health names a disabled integrity schedule and stale checks, quickly."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from audit.models import IntegrityCheckRun
from provenance import checkpoints
from tests.support import failing, health, tamper

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_disabled_schedule_fails_health_naming_it_within_2_s(client):
    assert health(client)[0] == 200
    tamper("UPDATE django_celery_beat_periodictask SET enabled = false WHERE name = 'Integrity check (full)'")
    tamper("DELETE FROM django_celery_beat_periodictask WHERE name = 'Publish checkpoint'")
    started = time.monotonic()
    status, body = health(client)
    assert time.monotonic() - started < 2
    assert (status, failing(body)) == (500, ["IntegritySchedule()"])
    assert body["IntegritySchedule()"] == "Unavailable: " + (
        "periodic task 'Publish checkpoint' is missing; periodic task 'Integrity check (full)' is disabled"
    )


def test_stale_checks_fail_health(client, ledger, miner):
    ledger.origin(miner)
    checkpoints.publish_checkpoint()
    assert health(client)[0] == 200
    tamper("UPDATE provenance_checkpoint SET published_at = %s", [dt.datetime(2000, 1, 1, tzinfo=dt.UTC)])
    status, body = health(client)
    assert (status, failing(body)) == (500, ["IntegritySchedule()"])
    assert body["IntegritySchedule()"] == "Unavailable: " + (
        "no incremental integrity check has finished since 2000-01-01 00:00:00 UTC (600 s allowed)"
    )
    IntegrityCheckRun.objects.create(
        kind="incremental", start=0, end=1, started_at=dt.datetime.now(dt.UTC), finished_at=dt.datetime.now(dt.UTC)
    )
    assert health(client)[0] == 200
