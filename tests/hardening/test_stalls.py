"""One bad statement or one stuck process must not fail or stall everyone
else's appends, and a timeout never claims what it cannot know."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection, connections

from provenance.append import checks, process, sequencer
from provenance.append.process import AlreadyServing, Server
from provenance.errors import LedgerError
from provenance.models import Entry, EntryType, LogState
from tests.ops.stack import wait_until
from tests.support import Ledger, assert_log_intact, origin_body, race

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="locks and a second process")


@pytest.fixture(autouse=True)
def fresh_sequencer_state():
    sequencer._socket_suspended_until = 0.0
    yield
    sequencer._socket_suspended_until = 0.0
    process._forget(getattr(process._local, "sock", None))


def attestations():
    """The log's attestations: the personas' ledger entries (contract §12) left out."""
    return Entry.objects.exclude(type=EntryType.LEDGER)


def pending(ledger, party, name):
    return checks.prepare(origin_body(ledger, party, name), acting_org=party.org)


def unwritable(item):
    """A statement that passed every check but whose row cannot be written
    (a value no database column takes): a stand-in for any such culprit."""
    statement = dataclasses.replace(item.statement, raw={**item.statement.raw, "x": {1, 2}})
    return dataclasses.replace(item, statement=statement)


def test_a_batch_that_fails_is_retried_without_the_culprit(miner):
    ledger = Ledger()
    items = [pending(ledger, miner, "a"), unwritable(pending(ledger, miner, "bad")), pending(ledger, miner, "b")]
    outcomes = checks.append_batch_isolated(items)
    assert [type(outcome) for outcome in outcomes] == [checks.AppendResult, checks.AppendFailed, checks.AppendResult]
    assert [outcome.status for outcome in (outcomes[0], outcomes[2])] == [201, 201]
    assert list(attestations().order_by("index").values_list("entry_hash", flat=True)) == [
        items[0].envelope.entry_hash,
        items[2].envelope.entry_hash,
    ]
    assert_log_intact()


def test_the_sequencer_thread_answers_each_caller_of_a_failed_batch(miner, monkeypatch):
    """Through the group commit: six callers' statements in one batch, one of
    them unwritable; the culprit's caller gets a server error, the others
    their receipts. A plug holds the sequencer until all six are queued
    behind it, so that they are taken together."""
    ledger = Ledger()
    plug = pending(ledger, miner, "plug")
    items = [pending(ledger, miner, f"s{n}") for n in range(6)]
    items[3] = unwritable(items[3])
    holding, gate = threading.Event(), threading.Event()
    real = checks.append_batch
    batches: list[set[str]] = []

    def held(batch):  # the plug's batch waits at the gate
        batches.append({item.envelope.entry_hash for item in batch})
        holding.set()
        gate.wait(10)
        return real(batch)

    monkeypatch.setattr(checks, "append_batch", held)
    outcomes = [None] * len(items)

    def caller(position):
        (outcomes[position],) = sequencer.submit_here([items[position]], checks.append_batch_isolated)
        connections.close_all()

    def plugging():
        sequencer.submit_here([plug], checks.append_batch_isolated)
        connections.close_all()

    threads = [threading.Thread(target=plugging)]
    threads[0].start()
    assert holding.wait(10), "the sequencer never took the plug"
    threads += [threading.Thread(target=caller, args=(n,)) for n in range(len(items))]
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: sequencer._queue.qsize() == len(items), "the six queued", timeout=10, interval=0.01)
    gate.set()
    for thread in threads:
        thread.join(20)
    assert batches[0] == {plug.envelope.entry_hash}
    assert batches[1] == {item.envelope.entry_hash for item in items}  # the six in one batch, which failed
    assert isinstance(outcomes[3], checks.AppendFailed)
    assert [outcomes[n].status for n in (0, 1, 2, 4, 5)] == [201] * 5
    assert attestations().count() == 6  # the plug and five


class StuckSequencer:
    """A sequencer process that takes statements and never answers (SIGSTOP, a hang)."""

    def __init__(self, path):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(16)
        self.connections = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self):
        self.listener.close()
        for conn in self.connections:
            conn.close()


def test_appends_do_not_stall_behind_a_stuck_sequencer_process(socket_path, settings, miner):
    settings.CAIRN_SEQUENCER_SOCKET = str(socket_path)
    settings.CAIRN_SEQUENCER_TIMEOUT = 0.5
    settings.CAIRN_SEQUENCER_RETRY_SECONDS = 60
    stuck = StuckSequencer(socket_path)
    ledger = Ledger()
    try:
        first = checks.append_attestation(origin_body(ledger, miner, "first"), acting_org=miner.org)
        later = [checks.append_attestation(origin_body(ledger, miner, f"l{n}"), acting_org=miner.org) for n in range(5)]
    finally:
        stuck.close()
    # The first waited for the stuck process, then appended by itself; the
    # others did not ask it again (one connection ever made to it).
    assert [result.status for result in [first, *later]] == [201] * 6
    assert len(stuck.connections) == 1
    assert attestations().count() == 6


@postgres_only
def test_a_timeout_says_the_outcome_is_unknown_never_that_nothing_was_stored(socket_path, settings, miner, api):
    """The stuck process may hold the log's lock with the statement in its
    transaction: the worker cannot know, and says so (503 outcome_unknown)."""
    settings.CAIRN_SEQUENCER_SOCKET = str(socket_path)
    settings.CAIRN_SEQUENCER_TIMEOUT = 0.3
    settings.CAIRN_APPEND_LOCK_TIMEOUT = 0.5
    stuck = StuckSequencer(socket_path)
    body = origin_body(Ledger(), miner, "unknown")
    holder = connections.create_connection("default")
    try:
        with holder.cursor() as cursor:
            holder.set_autocommit(False)
            LogState.load()
            cursor.execute("SELECT 1 FROM provenance_logstate WHERE id = 1 FOR UPDATE")
            response = api.post("/api/v1/attestations", body, content_type="application/json", **miner.auth)
            assert response.status_code == 503, response.content
            error = response.json()["error"]
            assert error["code"] == "outcome_unknown"
            assert "nothing" not in error["message"] and "same envelope" in error["message"]
            assert response["Retry-After"]
            # Without a sequencer process in between, the worker knows its own
            # transaction gave up: nothing of the request was stored.
            settings.CAIRN_SEQUENCER_SOCKET = ""
            response = api.post("/api/v1/attestations", body, content_type="application/json", **miner.auth)
            assert response.status_code == 503, response.content
            assert response.json()["error"]["code"] == "unavailable"
            assert "nothing of this request was stored" in response.json()["error"]["message"]
            holder.rollback()
    finally:
        holder.close()
        stuck.close()
    again = api.post("/api/v1/attestations", body, content_type="application/json", **miner.auth)
    assert again.status_code == 201
    assert attestations().count() == 1


@postgres_only
def test_a_writer_stopped_inside_its_append_loses_its_locks(settings, miner, monkeypatch):
    """The append transaction may sit idle CAIRN_APPEND_IDLE_TIMEOUT at most:
    a writer stopped holding the log's tail is cut off and the others go on."""
    settings.CAIRN_APPEND_IDLE_TIMEOUT = 0.5
    settings.CAIRN_APPEND_LOCK_TIMEOUT = 10
    settings.CAIRN_APPEND_TIMEOUT = 20
    ledger = Ledger()
    size = LogState.load().size  # the persona's ledger entries (contract §12) come first
    stopped, resumed = threading.Event(), threading.Event()
    real_write = checks.Book.write

    def stop_inside(self, ruleset):  # the locks are held: stop here, as SIGSTOP would
        if not stopped.is_set():
            stopped.set()
            resumed.wait(15)
        return real_write(self, ruleset)

    monkeypatch.setattr(checks.Book, "write", stop_inside)
    outcome = {}

    def stuck_writer():
        try:
            checks.append_batch([pending(ledger, miner, "stuck")])
            outcome["stuck"] = "committed"
        except Exception as exc:
            outcome["stuck"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=stuck_writer)
    thread.start()
    try:
        assert stopped.wait(10)
        started = time.monotonic()
        result = checks.append_attestation(origin_body(ledger, miner, "goes-on"), acting_org=miner.org)
        waited = time.monotonic() - started
    finally:
        resumed.set()
        thread.join(20)
    assert result.status == 201
    assert waited < 10  # not the lock timeout: the stopped writer's session ended and released the tail
    assert outcome["stuck"] != "committed"
    assert list(Entry.objects.order_by("index").values_list("index", flat=True)) == list(range(size + 1))
    assert result.entry.index == size


# --- run_sequencer and its socket -------------------------------------------------


def test_a_stale_socket_is_taken_over_and_a_live_one_is_refused(socket_path):
    # A killed process leaves its socket file: nothing answers on it.
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(socket_path))
    dead.close()
    assert socket_path.is_socket()
    server = Server(socket_path, append=checks.append_handed_over)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        with pytest.raises(AlreadyServing):
            Server(socket_path, append=checks.append_handed_over)
        assert socket_path.is_socket()  # the live server's socket is left alone
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(str(socket_path))
        probe.close()
    finally:
        server.stop()
        thread.join(10)


@postgres_only
def test_run_sequencer_killed_with_sigkill_is_replaced_by_a_new_one(socket_path, settings, miner, tmp_path):
    from tests.support import stop, worker_environment

    def start():
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_sequencer", "--socket", str(socket_path)],
            cwd=settings.BASE_DIR,
            env=worker_environment(tmp_path),
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def wait_serving(child):
        deadline = time.monotonic() + 30
        while not process.answers(socket_path):
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.05)

    first = start()
    processes = [first]
    try:
        wait_serving(first)
        second = start()
        processes.append(second)
        assert second.wait(timeout=30) != 0
        assert b"not starting a second one" in second.communicate()[1]
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert socket_path.is_socket()  # left behind
        third = start()
        processes.append(third)
        wait_serving(third)
        settings.CAIRN_SEQUENCER_SOCKET = str(socket_path)
        ledger = Ledger()
        outcomes = race([origin_body(ledger, miner, f"after-{n}") for n in range(4)], lambda position: miner)
        assert sorted(status for status, _ in outcomes) == [201] * 4
        os.killpg(third.pid, signal.SIGTERM)
        assert third.wait(timeout=20) == 0
    finally:
        for child in processes:
            if child.poll() is None:
                stop(child)


@postgres_only
def test_a_sigstopped_run_sequencer_does_not_hang_appends(socket_path, settings, miner, tmp_path):
    """The defect as found: SIGSTOP the sequencer process; appends are answered within
    the stated timeout, with 201 or an honest 503, and all land after SIGCONT."""
    from tests.support import stop, worker_environment

    child = subprocess.Popen(
        [sys.executable, "manage.py", "run_sequencer", "--socket", str(socket_path)],
        cwd=settings.BASE_DIR,
        env=worker_environment(tmp_path),
        start_new_session=True,
    )
    settings.CAIRN_SEQUENCER_SOCKET = str(socket_path)
    settings.CAIRN_SEQUENCER_TIMEOUT = 0.5
    settings.CAIRN_APPEND_TIMEOUT = 4
    try:
        deadline = time.monotonic() + 30
        while not process.answers(socket_path):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        ledger = Ledger()
        assert checks.append_attestation(origin_body(ledger, miner, "warm"), acting_org=miner.org).status == 201
        os.killpg(child.pid, signal.SIGSTOP)
        bodies = [origin_body(ledger, miner, f"stopped-{n}") for n in range(4)]
        started = time.monotonic()
        outcomes = race(bodies, lambda position: miner)
        elapsed = time.monotonic() - started
        os.killpg(child.pid, signal.SIGCONT)
        assert elapsed < settings.CAIRN_APPEND_TIMEOUT + 2
        assert {status for status, _ in outcomes} <= {201, "outcome_unknown"}
        for body, (status, _) in zip(bodies, outcomes, strict=True):
            if status != 201:  # re-posting is how a client learns the outcome
                assert checks.append_attestation(body, acting_org=miner.org).status in (200, 201)
        assert attestations().count() == 5
        assert_log_intact()
        os.killpg(child.pid, signal.SIGTERM)
        assert child.wait(timeout=20) == 0
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGCONT)
            stop(child)


def test_an_unknown_outcome_is_a_ledger_error_with_its_own_code():
    error = checks.unconfirmed(10)
    assert isinstance(error, LedgerError) and error.status == 503 and error.code == "outcome_unknown"
