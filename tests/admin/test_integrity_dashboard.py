"""A broken verdict raises an incident; the full check and what each part of the ledger last had."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from audit import checks, tasks
from audit.checks import Checked, last_checked
from audit.engine import verify_claim
from audit.models import IntegrityCheckPart, IntegrityCheckRun, IntegrityIncident
from provenance import checkpoints
from provenance.models import Entry
from tests.support import change_envelope_byte, logged_in, mine_to_claim

pytestmark = pytest.mark.django_db
VIN = "1CRNDASHB00000001"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def attestation(position: int) -> int:
    """The log index of the claim chain's attestation at `position` (ledger entries
    for the parties' organisations and keys come before and between them)."""
    return Entry.objects.exclude(type="ledger").order_by("index").values_list("index", flat=True)[position]


def log_size() -> int:
    return Entry.objects.count()


def test_last_checked_takes_the_latest_check_of_each_part():
    spans = [
        (0, 100, at(0), "full"),
        (100, 120, at(5), "incremental"),
        (40, 60, at(10), "full (part)"),
    ]
    assert last_checked(130, spans) == [
        Checked(0, 40, at(0), "full"),
        Checked(40, 60, at(10), "full (part)"),
        Checked(60, 100, at(0), "full"),
        Checked(100, 120, at(5), "incremental"),
        Checked(120, 130, None, ""),
    ]


def test_last_checked_merges_and_clips():
    spans = [(0, 10, at(1), "incremental"), (10, 20, at(1), "incremental"), (15, 99, at(0), "command")]
    assert last_checked(30, spans) == [Checked(0, 20, at(1), "incremental"), Checked(20, 30, at(0), "command")]
    assert last_checked(0, spans) == []
    assert last_checked(5, []) == [Checked(0, 5, None, "")]


@pytest.fixture
def claimed(ledger, miner, refiner, maker):
    mine_to_claim(ledger, miner, refiner, maker, VIN)
    checkpoints.publish_checkpoint()


def test_a_broken_verdict_raises_an_incident(claimed):
    assert verify_claim(VIN, requested_by=None).integrity == "intact"
    assert not IntegrityIncident.objects.exists()

    change_envelope_byte(attestation(2))
    verification = verify_claim(VIN, requested_by=None)
    assert verification.integrity == "broken"
    found = IntegrityIncident.objects.filter(state="open")
    # The refinery's transform is the suspect; its transfer, whose signed prev
    # no longer matches its hash, is a consequence, and so is the claim.
    (incident,) = found
    assert (incident.index, incident.suspect) == (attestation(2), f"entry #{attestation(2)}")
    assert incident.message == (
        f"entry #{attestation(2)} altered after logging: its stored bytes and leaf hash disagree, "
        "its stored bytes and entry hash disagree, "
        f"signature fails, no longer in the checkpoint; consequences: #{attestation(3)}'s chain, claim {VIN}"
    )
    assert incident.consequences["claims"] == [VIN]
    assert {incident.detected_by for incident in found} == {f"verification {verification.pk}"}
    # The claim's own failed requirements (none here but credit) are not incidents.
    assert not found.filter(code__in=["critical_minerals", "battery_components", "credit_in_force"]).exists()
    # Verified again: the same problems, recorded once.
    count = found.count()
    verify_claim(VIN, requested_by=None)
    assert IntegrityIncident.objects.count() == count


def test_the_dashboard_starts_a_full_check_and_shows_what_it_found(claimed, auditor_user, settings):
    from config.celery import app

    client = logged_in(auditor_user)
    assert checks.run_incremental() == []  # everything checked once, intact
    change_envelope_byte(attestation(2))  # then an old entry changes: the next incremental check sees nothing
    assert checks.run_incremental() == []

    size = log_size()
    page = client.get(reverse("admin:audit_integrity_dashboard"))
    assert [(part.start, part.end, part.kind) for part in page.context["coverage"]] == [(0, size, "incremental")]
    assert page.context["full_check"] is None
    assert "Run a full check in the background" in page.content.decode()

    app.conf.task_always_eager = True  # the worker's part is test_worker's: here the task runs in place
    try:
        response = client.post(reverse("admin:audit_integrity_full_check"), follow=True)
    finally:
        app.conf.task_always_eager = False
    assert "Full check started" in response.content.decode()
    run = IntegrityCheckRun.objects.get(kind="full")
    assert run.finished_at is not None and run.problem_count > 0
    assert IntegrityCheckPart.objects.filter(run=run, finished_at__isnull=False).count() == 1
    progress = response.context["full_check"]
    assert (progress.running, progress.parts, progress.parts_done) == (False, 1, 1)
    # The claim the changed entry undermines was verified again after the check: its verdict entry follows.
    assert [(part.start, part.end, part.kind) for part in response.context["coverage"]][0] == (0, size, "full")
    assert response.context["open_incident_count"] > 0
    assert attestation(2) in {incident.index for incident in response.context["open_incidents"]}


def test_progress_of_a_running_full_check(claimed, auditor_user):
    size = log_size()
    run = checks.start_run("full", 0, size)
    IntegrityCheckPart.objects.create(run=run, start=0, end=4, finished_at=at(0))
    IntegrityCheckPart.objects.create(run=run, start=4, end=size)
    page = logged_in(auditor_user).get(reverse("admin:audit_integrity_dashboard"))
    text = page.content.decode()
    assert "1 of 2 parts checked" in text
    assert '<meta http-equiv="refresh"' in text
    assert [(part.start, part.end, part.kind) for part in page.context["coverage"]] == [
        (0, 4, "full (part)"),
        (4, size, ""),
    ]
    # A second full check is not started while this one runs.
    response = logged_in(auditor_user).post(reverse("admin:audit_integrity_full_check"), follow=True)
    assert "already running" in response.content.decode()
    assert IntegrityCheckRun.objects.filter(kind="full").count() == 1


def test_only_those_who_may_verify_start_a_full_check(claimed, staff_viewer):
    response = logged_in(staff_viewer).post(reverse("admin:audit_integrity_full_check"))
    assert response.status_code == 403
    assert not IntegrityCheckRun.objects.exists()
    assert tasks.check_full.name == "audit.check_full"


def test_a_full_check_delivered_twice_splits_once(claimed):
    run = checks.start_run("full", 0, log_size())
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        tasks.check_full.delay(run_id=run.id)
        tasks.check_full.delay(run_id=run.id)
    finally:
        app.conf.task_always_eager = False
    assert IntegrityCheckPart.objects.filter(run=run).count() == 1
    run.refresh_from_db()
    assert run.finished_at is not None and run.problem_count == 0
