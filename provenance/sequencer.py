"""Group commit: one thread appends whatever statements wait, as one batch.

Request threads hand their checked statements to `submit` and block until the
batch holding them has committed. A request hands over one statement (POST
/attestations) or the statements of a whole batch submission, in order (POST
/attestations/batch): they travel together and are appended together, in
their order, each answered with its own result. The sequencer thread takes
every request's statements waiting (up to CAIRN_SEQUENCER_BATCH statements,
and always a request's statements whole), calls ingest.append_batch once,
and answers each caller with the results of its own statements. No statement waits for a
timer: a batch is what queued up while the previous one was committing, so
an idle ledger appends one statement at a time with no added latency.

Where the sequencer runs. By default each process runs its own sequencer
thread. With CAIRN_SEQUENCER_SOCKET set, `submit` sends statements to a
sequencer process (`manage.py run_sequencer`, provenance.sequencer_socket)
that serves every worker on the host, so that batches gather the whole
host's statements and the appends never wait for the GIL behind request
threads. Correctness never rests on it: the database's locks order every
append whichever process makes it, so when the socket does not answer a
worker falls back to its own thread, and a statement whose answer was lost
is appended again, which the ledger answers as a re-post.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)

_queue: queue.Queue = queue.Queue()
_thread: threading.Thread | None = None
_started = threading.Lock()


def submit(pendings: list) -> list:
    """Append checked statements, in order, in one batch; return each one's
    AppendResult or LedgerError, in the same order.

    Answered within CAIRN_APPEND_TIMEOUT: when the outcome is not known by
    then, the answer is `outcome_unknown` (the statements may yet be logged;
    re-posting them is safe), never a claim that nothing was stored.
    """
    from provenance import ingest

    deadline = time.monotonic() + settings.CAIRN_APPEND_TIMEOUT
    path = settings.CAIRN_SEQUENCER_SOCKET
    handed_over = False
    if path and time.monotonic() >= _socket_suspended_until:
        from provenance import sequencer_socket

        try:
            wait = min(settings.CAIRN_SEQUENCER_TIMEOUT, _left(deadline))
            return sequencer_socket.submit(path, pendings, timeout=wait)
        except sequencer_socket.Unavailable as exc:
            log.warning("sequencer process unavailable (%s); appending in this process", exc)
        except sequencer_socket.NoAnswer as exc:
            # It has the statements and may still log them: appending them here
            # too is safe (the ledger answers a second copy as a re-post), and
            # this process stops waiting on it for a while.
            handed_over = True
            _suspend_socket()
            log.warning("sequencer process did not answer (%s); appending in this process", exc)
    outcomes = submit_here(pendings, timeout=_left(deadline))
    if handed_over:
        unknown = ingest.unconfirmed(settings.CAIRN_APPEND_TIMEOUT)
        outcomes = [
            unknown if isinstance(outcome, ingest.LedgerError) and outcome.code == "unavailable" else outcome
            for outcome in outcomes
        ]
    return outcomes


_socket_suspended_until = 0.0


def _suspend_socket() -> None:
    """Append in this process for CAIRN_SEQUENCER_RETRY_SECONDS after the
    sequencer process failed to answer in time (stopped, hung, overloaded)."""
    global _socket_suspended_until
    _socket_suspended_until = time.monotonic() + settings.CAIRN_SEQUENCER_RETRY_SECONDS


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.05)


def submit_here(pendings: list, timeout: float | None = None) -> list:
    """Append through this process's sequencer thread, waiting at most `timeout`."""
    from provenance import ingest

    _ensure_thread()
    future: Future = Future()
    _queue.put((list(pendings), future))
    timeout = settings.CAIRN_APPEND_TIMEOUT if timeout is None else timeout
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        return [ingest.unconfirmed(settings.CAIRN_APPEND_TIMEOUT)] * len(pendings)


def flatten(groups: list[list]) -> list:
    """The statements of every request of a batch, in order."""
    return [pending for group in groups for pending in group]


def regroup(groups: list[list], outcomes: list) -> list[list]:
    """Split a batch's outcomes back into each request's, in order."""
    answers, start = [], 0
    for group in groups:
        answers.append(outcomes[start : start + len(group)])
        start += len(group)
    if start != len(outcomes):
        raise AssertionError("one outcome per statement")
    return answers


def _ensure_thread() -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    with _started:
        if _thread is None or not _thread.is_alive():
            # The sequencer holds the log's tail lock across several round
            # trips, and after each one it needs the GIL back. CPython hands the
            # GIL over only every switch interval (5 ms by default) while other
            # threads run Python, which would stretch every lock hold tenfold.
            sys.setswitchinterval(min(sys.getswitchinterval(), settings.CAIRN_SWITCH_INTERVAL))
            _thread = threading.Thread(target=_run, name="cairn-sequencer", daemon=True)
            _thread.start()


_STOP = object()


def shutdown(timeout: float = 10) -> None:
    """Stop this process's sequencer after the batches queued before, closing
    its database connection (test teardown, before the database is dropped)."""
    global _thread
    with _started:
        thread, _thread = _thread, None
    if thread is not None and thread.is_alive():
        _queue.put((_STOP, None))
        thread.join(timeout)


def _take_batch() -> list[tuple[object, Future]]:
    """Requests waiting, whole, up to CAIRN_SEQUENCER_BATCH statements (the
    first request whatever its size)."""
    batch = [_queue.get()]
    if batch[0][0] is _STOP:
        return batch
    statements = len(batch[0][0])
    while statements < settings.CAIRN_SEQUENCER_BATCH:
        try:
            item = _queue.get_nowait()
        except queue.Empty:
            break
        if item[0] is _STOP:  # finish what came before it, then stop
            _queue.put(item)
            break
        batch.append(item)
        statements += len(item[0])
    return batch


def _run() -> None:
    from provenance.ingest import append_batch_isolated

    while True:
        batch = _take_batch()
        if batch[0][0] is _STOP:
            connections.close_all()
            return
        groups = [pendings for pendings, _ in batch]
        # A batch that fails as a whole is appended again statement by
        # statement, so one that breaks the write fails alone.
        outcomes = append_batch_isolated(flatten(groups))
        for (_, future), answer in zip(batch, regroup(groups, outcomes), strict=True):
            future.set_result(answer)
