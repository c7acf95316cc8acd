"""Appends through a sequencer process (CAIRN_SEQUENCER_SOCKET).

The server runs on a thread of the test process for the protocol tests, and
as a real `manage.py run_sequencer` process against PostgreSQL for the race.
Appends outside a transaction are committed, so these tests are
transactional.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from provenance import tlog
from provenance.append import checks, handshake, process, wire
from provenance.append.process import read_first_request as recv_frame
from provenance.errors import LedgerError
from provenance.models import Entry, EntryType
from tests.support import Ledger, assert_log_intact, origin_body, race, sign_payload

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def attestations():
    """The log's attestations: the personas' ledger entries (contract §12) left out."""
    return Entry.objects.exclude(type=EntryType.LEDGER)


def test_statements_are_appended_and_answered_by_the_server(served, miner):
    ledger = Ledger()
    body = origin_body(ledger, miner, "a")
    first = checks.append_attestation(body, acting_org=miner.org)
    again = checks.append_attestation(body, acting_org=miner.org)
    assert served == [1, 1]  # both went through the server
    assert (first.status, again.status) == (201, 200)
    assert first.as_body() == again.as_body()
    stored = Entry.objects.get(index=first.entry.index)
    assert first.as_body() == checks.receipt(stored)


def test_refusals_come_back_with_their_code_and_details(served, miner, stranger):
    ledger = Ledger()
    ore = ledger.local(miner, "ore")
    checks.append_attestation(origin_body(ledger, miner, "ore"), acting_org=miner.org)
    head = attestations().get().entry_hash
    stale = ledger.statement(
        "transform",
        miner,
        activity="processing",
        site={"name": "p", "country": "AU"},
        inputs=[{"batch": ore, "prev": "0" * 64, "quantity": "1"}],
        outputs=[{"batch": f"{miner.slug}:x", "material": "m", "quantity": "1", "unit": "kg", "value_added_usd": "1"}],
    )
    with pytest.raises(LedgerError) as refused:
        checks.append_attestation(sign_payload(stale, miner), acting_org=miner.org)
    assert (refused.value.code, refused.value.extra) == ("stale_head", {"head": head})
    with pytest.raises(LedgerError) as mismatch:
        checks.append_attestation(origin_body(ledger, miner, "b"), acting_org=stranger.org)
    assert mismatch.value.code == "issuer_mismatch"
    assert attestations().count() == 1


def test_the_api_answers_through_the_server(served, miner, api):
    body = origin_body(Ledger(), miner, "api")
    size = tlog.current_size()  # the persona's ledger entries (contract §12) come first
    response = api.post("/api/v1/attestations", body, content_type="application/json", **miner.auth)
    assert response.status_code == 201, response.content
    assert json.loads(response.content)["index"] == size
    assert served == [1]


def test_a_large_batch_is_appended_by_its_worker_and_a_small_one_by_the_server(
    served, settings, miner, caplog, monkeypatch
):
    """A request of more than CAIRN_SEQUENCER_PROCESS_MAX statements is a
    group already: the worker's own thread appends it, sparing the process
    the parse and checks it would repeat."""
    settings.CAIRN_SEQUENCER_PROCESS_MAX = 3
    by_thread = []
    counted = checks.append_batch

    def noting_the_thread(items):
        by_thread.append((threading.current_thread().name, len(items)))
        return counted(items)

    monkeypatch.setattr(checks, "append_batch", noting_the_thread)
    ledger = Ledger()
    small = [origin_body(ledger, miner, f"small-{n}") for n in range(3)]
    large = [origin_body(ledger, miner, f"large-{n}") for n in range(4)]
    assert [o.status for o in checks.append_attestations(small, acting_org=miner.org)] == [201] * 3
    assert [o.status for o in checks.append_attestations(large, acting_org=miner.org)] == [201] * 4
    server_thread = by_thread[0][0]
    assert by_thread == [(server_thread, 3), ("cairn-sequencer", 4)]  # the large batch never reached the server
    assert server_thread != "cairn-sequencer"
    assert "appending in this process" not in caplog.text  # by design, not as a fallback
    assert attestations().count() == 7
    assert_log_intact()


def test_without_a_server_the_worker_appends_by_itself(socket_path, settings, miner, caplog):
    settings.CAIRN_SEQUENCER_SOCKET = str(socket_path)  # nothing listens there
    result = checks.append_attestation(origin_body(Ledger(), miner, "alone"), acting_org=miner.org)
    assert result.status == 201
    assert attestations().count() == 1
    assert "appending in this process" in caplog.text


def test_a_lost_answer_is_appended_again_and_answered_as_a_re_post(socket_path, settings, miner):
    """The sequencer commits the statement, then dies before answering: the
    worker appends it by itself and the ledger answers 200, the same receipt."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    listener.listen(1)
    committed = {}

    def commit_then_vanish():
        conn, _ = listener.accept()
        with conn:
            (outcome,) = checks.append_batch(recv_frame(conn))
            committed["receipt"] = outcome.as_body()
        connection.close()

    thread = threading.Thread(target=commit_then_vanish)
    thread.start()
    settings.CAIRN_SEQUENCER_SOCKET = str(socket_path)
    try:
        result = checks.append_attestation(origin_body(Ledger(), miner, "lost"), acting_org=miner.org)
    finally:
        thread.join(timeout=10)
        listener.close()
        process._forget(getattr(process._local, "sock", None))
    assert result.status == 200
    assert result.as_body() == committed["receipt"]
    assert attestations().count() == 1


class BusySequencer:
    """A stand-in sequencer process whose loop turns (it sets its heartbeat
    every 50 ms) but which answers a request only after `answer_after`
    seconds (never when None), as one busy with every worker's big batches."""

    def __init__(self, socket_path, answer_after: float | None, rest_after: float = 0) -> None:
        self.path = socket_path
        self.answer_after = answer_after
        self.rest_after = rest_after  # the answer's first 10 bytes, and the rest this much later
        self.rest = b""
        self.requests: list[int] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(socket_path))
        self.listener.listen(4)
        self.listener.settimeout(0.05)
        process.heartbeat(socket_path).touch()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        conn = None
        while not self.stopping.is_set():
            os.utime(process.heartbeat(self.path))
            if conn is None:
                try:
                    conn, _ = self.listener.accept()
                except TimeoutError:
                    continue
                pendings = recv_frame(conn)
                self.requests.append(len(pendings))
                taken = time.monotonic()
            elif self.answer_after is not None and time.monotonic() - taken >= self.answer_after:
                answer = handshake.frame(wire.encode_answer(checks.append_batch(pendings)))
                conn.sendall(answer[:10])
                self.rest, self.answer_after, taken = answer[10:], None, time.monotonic()
            elif self.rest and time.monotonic() - taken >= self.rest_after:
                conn.sendall(self.rest)
                self.rest = b""
            time.sleep(0.05)
        if conn is not None:
            conn.close()
        connection.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        self.listener.close()
        process._forget(getattr(process._local, "sock", None))


def test_a_busy_sequencer_is_waited_for_past_its_timeout(socket_path, settings, miner, caplog):
    """Its loop turns, so the worker waits for its answer rather than append
    the same statement beside it (as a fixed timeout had it do under batch load)."""
    settings.CAIRN_SEQUENCER_SOCKET = str(socket_path)
    settings.CAIRN_SEQUENCER_TIMEOUT = 0.3
    settings.CAIRN_APPEND_TIMEOUT = 5
    busy = BusySequencer(socket_path, answer_after=1.0)
    try:
        started = time.monotonic()
        result = checks.append_attestation(origin_body(Ledger(), miner, "busy"), acting_org=miner.org)
        waited = time.monotonic() - started
    finally:
        busy.close()
    assert result.status == 201
    assert busy.requests == [1]
    assert waited >= 1.0
    assert "appending in this process" not in caplog.text
    assert attestations().count() == 1


def test_an_answer_written_in_parts_between_appends_is_waited_for(socket_path, settings, miner, caplog):
    settings.CAIRN_SEQUENCER_SOCKET = str(socket_path)
    settings.CAIRN_SEQUENCER_TIMEOUT = 0.3
    settings.CAIRN_APPEND_TIMEOUT = 5
    busy = BusySequencer(socket_path, answer_after=0.1, rest_after=1.0)
    try:
        result = checks.append_attestation(origin_body(Ledger(), miner, "parts"), acting_org=miner.org)
    finally:
        busy.close()
    assert result.status == 201
    assert busy.requests == [1]
    assert "appending in this process" not in caplog.text
    assert attestations().count() == 1


def test_a_sequencer_busy_past_the_append_time_is_left_and_asked_again(socket_path, settings, miner, caplog):
    """Busy until 70% of CAIRN_APPEND_TIMEOUT: the worker appends by itself
    in the time left, and, the sequencer being alive, asks it again next time."""
    settings.CAIRN_SEQUENCER_SOCKET = str(socket_path)
    settings.CAIRN_SEQUENCER_TIMEOUT = 0.2
    settings.CAIRN_APPEND_TIMEOUT = 2
    settings.CAIRN_SEQUENCER_RETRY_SECONDS = 60
    busy = BusySequencer(socket_path, answer_after=None)
    ledger = Ledger()
    try:
        started = time.monotonic()
        first = checks.append_attestation(origin_body(ledger, miner, "first"), acting_org=miner.org)
        waited = time.monotonic() - started
        busy.stopping.set()  # the next request finds no one listening: it is sent, not skipped
        busy.thread.join(10)
        busy.listener.close()
        second = checks.append_attestation(origin_body(ledger, miner, "second"), acting_org=miner.org)
    finally:
        busy.close()
    assert (first.status, second.status) == (201, 201)
    assert 1.3 <= waited < 2.0
    assert busy.requests == [1]
    assert "sequencer busy all along" in caplog.text
    assert "sequencer process unavailable" in caplog.text  # asked again, not suspended
    assert attestations().count() == 2


def test_the_sequencer_sets_its_heartbeat_while_it_serves(served, socket_path):
    time.sleep(0.7)
    assert process.heartbeat_age(socket_path) < 0.6


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a second process needs PostgreSQL's test database")
def test_racing_writers_through_a_real_sequencer_process(socket_path, settings, miner, tmp_path):
    from tests.support import stop, worker_environment

    child = subprocess.Popen(
        [sys.executable, "manage.py", "run_sequencer", "--socket", str(socket_path)],
        cwd=settings.BASE_DIR,
        env=worker_environment(tmp_path),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket_path.is_socket():
            assert child.poll() is None and time.monotonic() < deadline, "run_sequencer did not start"
            time.sleep(0.05)
        settings.CAIRN_SEQUENCER_SOCKET = str(socket_path)
        ledger = Ledger()
        bodies = [origin_body(ledger, miner, f"race-{n}") for n in range(16)]
        size = tlog.current_size()
        outcomes = race(bodies, lambda position: miner)
        assert sorted(status for status, _ in outcomes) == [201] * 16
        assert sorted(index for _, index in outcomes) == list(range(size, size + 16))
        assert_log_intact()
        os.killpg(child.pid, signal.SIGTERM)
        assert child.wait(timeout=20) == 0
        assert not socket_path.exists()
    finally:
        if child.poll() is None:
            stop(child)
