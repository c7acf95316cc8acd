"""Group commit: one thread appends whatever statements wait, as one batch.

Request threads hand their checked statement to `submit` and block until the
batch holding it has committed. The sequencer thread takes every statement
waiting (up to CAIRN_SEQUENCER_BATCH), calls ingest.append_batch once, and
answers each caller with its own result or error. No statement waits for a
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


def submit(pending):
    """Append one checked statement; return its AppendResult or LedgerError.

    Answered within CAIRN_APPEND_TIMEOUT: when the outcome is not known by
    then, the answer is `outcome_unknown` (the statement may yet be logged;
    re-posting it is safe), never a claim that nothing was stored.
    """
    from provenance import ingest

    deadline = time.monotonic() + settings.CAIRN_APPEND_TIMEOUT
    path = settings.CAIRN_SEQUENCER_SOCKET
    handed_over = False
    if path and time.monotonic() >= _socket_suspended_until:
        from provenance import sequencer_socket

        try:
            wait = min(settings.CAIRN_SEQUENCER_TIMEOUT, _left(deadline))
            return sequencer_socket.submit(path, pending, timeout=wait)
        except sequencer_socket.Unavailable as exc:
            log.warning("sequencer process unavailable (%s); appending in this process", exc)
        except sequencer_socket.NoAnswer as exc:
            # It has the statement and may still log it: appending it here too
            # is safe (the ledger answers a second copy as a re-post), and
            # this process stops waiting on it for a while.
            handed_over = True
            _suspend_socket()
            log.warning("sequencer process did not answer (%s); appending in this process", exc)
    outcome = submit_here(pending, timeout=_left(deadline))
    if handed_over and isinstance(outcome, ingest.LedgerError) and outcome.code == "unavailable":
        return ingest.unconfirmed(settings.CAIRN_APPEND_TIMEOUT)
    return outcome


_socket_suspended_until = 0.0


def _suspend_socket() -> None:
    """Append in this process for CAIRN_SEQUENCER_RETRY_SECONDS after the
    sequencer process failed to answer in time (stopped, hung, overloaded)."""
    global _socket_suspended_until
    _socket_suspended_until = time.monotonic() + settings.CAIRN_SEQUENCER_RETRY_SECONDS


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.05)


def submit_here(pending, timeout: float | None = None):
    """Append through this process's sequencer thread, waiting at most `timeout`."""
    from provenance import ingest

    _ensure_thread()
    future: Future = Future()
    _queue.put((pending, future))
    timeout = settings.CAIRN_APPEND_TIMEOUT if timeout is None else timeout
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        return ingest.unconfirmed(settings.CAIRN_APPEND_TIMEOUT)


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
    batch = [_queue.get()]
    if batch[0][0] is _STOP:
        return batch
    while len(batch) < settings.CAIRN_SEQUENCER_BATCH:
        try:
            item = _queue.get_nowait()
        except queue.Empty:
            break
        if item[0] is _STOP:  # finish what came before it, then stop
            _queue.put(item)
            break
        batch.append(item)
    return batch


def _run() -> None:
    from provenance.ingest import append_batch_isolated

    while True:
        batch = _take_batch()
        if batch[0][0] is _STOP:
            connections.close_all()
            return
        outcomes = append_batch_isolated([pending for pending, _ in batch])
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            future.set_result(outcome)
