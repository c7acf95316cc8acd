"""GET /health: 200 when every part answers, 500 naming the one that does not."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from provenance import checkpoints
from provenance.append import checks
from tests.support import failing, health, tamper

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_all_parts_answer(client, ledger, miner):
    ledger.origin(miner)
    checkpoints.publish_checkpoint()
    status, body = health(client)
    assert status == 200, body
    assert sorted(body) == [
        "Broker()",
        "CheckpointAge()",
        "Database(alias='default')",
        "IntegritySchedule()",
        "LedgerKey()",
        "OpenIncidents()",
        "Sequencer()",
    ]
    assert client.get("/health").status_code == 200  # a load balancer's plain GET


def test_a_sequencer_socket_nobody_answers_fails(client, settings, tmp_path):
    settings.CAIRN_SEQUENCER_SOCKET = str(tmp_path / "nobody.sock")
    status, body = health(client)
    assert (status, failing(body)) == (500, ["Sequencer()"])
    assert "sequencer" in body["Sequencer()"]


def test_a_broker_down_fails(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    status, body = health(client)
    assert (status, failing(body)) == (500, ["Broker()"])


def test_entries_left_without_a_checkpoint_fail(client, settings, ledger, miner):
    # The checkpoint covers the persona's ledger entries (contract §12); the
    # origin is the first entry it leaves out.
    covered = checkpoints.publish_checkpoint().tree_size
    ledger.origin(miner)
    assert health(client)[0] == 200  # just appended: the worker has time to publish
    tamper('UPDATE provenance_entry SET integrated_time = integrated_time - 3600 WHERE "index" = %s', [covered])
    status, body = health(client)
    assert (status, failing(body)) == (500, ["CheckpointAge()"])
    assert f"entry {covered} has waited" in body["CheckpointAge()"]


def test_a_checkpoint_the_ledger_key_does_not_verify_fails(client, ledger, miner):
    ledger.origin(miner)
    checkpoint = checkpoints.publish_checkpoint()
    forged = checkpoint.note.replace(checkpoint.note.split("\n")[2], "A" * 43 + "=")
    tamper("UPDATE provenance_checkpoint SET note = %s WHERE id = %s", [forged, checkpoint.id])
    status, body = health(client)
    assert (status, failing(body)) == (500, ["LedgerKey()"])


def timed_health(client, limit: float = 10.0) -> tuple[float, int, dict]:
    """/health asked on a thread of its own, so a hang fails the test instead of stalling it."""
    answer: list = []
    started = time.monotonic()
    asker = threading.Thread(target=lambda: answer.append(health(client)), daemon=True)
    asker.start()
    asker.join(limit)
    assert answer, f"/health gave no answer within {limit:g} s"
    return time.monotonic() - started, *answer[0]


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers (a hung Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for sock in [*accepted, listener]:
        sock.close()


def test_a_hung_broker_fails_within_the_deadline(client, settings, silent_server):
    settings.CAIRN_HEALTH_DEADLINE = 1.5
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent_server}/0"
    waited, status, body = timed_health(client)
    assert waited < 1.5 + 1.0
    assert (status, failing(body)) == (500, ["Broker()"])


def test_a_running_sequencer_answers_the_health_check(client, settings):
    """The check completes the workers' own handshake with a live run_sequencer."""
    import shutil
    import tempfile
    from pathlib import Path

    from provenance.append.process import Server

    path = Path(tempfile.mkdtemp(prefix="cairn-health-", dir="/tmp")) / "sequencer.sock"
    server = Server(path, append=checks.append_handed_over)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.CAIRN_SEQUENCER_SOCKET = str(path)
    settings.CELERY_BROKER_URL = "filesystem://"
    try:
        status, body = health(client)
    finally:
        server.stop()
        thread.join(timeout=10)
        shutil.rmtree(path.parent, ignore_errors=True)
    assert body["Sequencer()"] == "OK", body


def test_a_stopped_sequencer_fails_within_the_deadline(client, settings, tmp_path):
    # A stopped (SIGSTOP) process's socket: connections queue, none is answered.
    path = tmp_path / "stopped.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(128)
    settings.CAIRN_SEQUENCER_SOCKET = str(path)
    settings.CAIRN_HEALTH_DEADLINE = 1.5
    try:
        waited, status, body = timed_health(client)
    finally:
        listener.close()
    assert waited < 1.5 + 1.0
    assert (status, failing(body)) == (500, ["Sequencer()"])
    assert "no sequencer process answers" in body["Sequencer()"]


def test_unresolved_incidents_make_it_degraded_not_down(client, settings):
    from django.utils import timezone

    from audit.models import IntegrityIncident

    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CAIRN_HEALTH_FRESH_SECONDS = 0  # each probe runs the checks again
    incident = IntegrityIncident.objects.create(
        fingerprint="f" * 64, index=3, code="leaf_hash", message="entry #3 altered", detected_at=timezone.now()
    )
    status, body = health(client)
    assert (status, failing(body)) == (200, ["OpenIncidents()"])
    assert body["OpenIncidents()"] == "Warning: degraded: 1 unresolved integrity incident(s), 1 open"
    incident.state = "resolved"
    incident.save()
    assert failing(health(client)[1]) == []
    # Anything down besides still fails.
    IntegrityIncident.objects.filter(pk=incident.pk).update(state="open")
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    status, body = health(client)
    assert (status, failing(body)) == (500, ["Broker()", "OpenIncidents()"])
