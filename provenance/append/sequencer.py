"""Group commit: one thread appends whatever statements wait, as one batch.

Request threads hand their checked statements to `submit` and block until the
batch holding them has committed. A request hands over one statement (POST
/attestations) or the statements of a whole batch submission, in order (POST
/attestations/batch): they travel together and are appended together, in
their order, each answered with its own result. The sequencer thread takes
every request's statements waiting (up to CAIRN_SEQUENCER_BATCH statements,
and always a request's statements whole), appends them in one call of the
function it was started with (the `append` the write path passes to
`submit`: provenance.append.checks.append_batch_isolated), and answers
each caller with the results of its own statements. No statement waits for a
timer: a batch is what queued up while the previous one was committing, so
an idle ledger appends one statement at a time with no added latency.

Where the sequencer runs. By default each process runs its own sequencer
thread. With CAIRN_SEQUENCER_SOCKET set, `submit` sends statements to a
sequencer process (`manage.py run_sequencer`, provenance.append.process)
that serves every worker on the host, so that batches gather the whole
host's statements and the appends never wait for the GIL behind request
threads. A request of more than CAIRN_SEQUENCER_PROCESS_MAX statements (a
batch submission) is a group already: its worker's own thread appends it,
sparing the process (one core) the parse and checks it would repeat, and
letting the workers' appends use the other cores. Correctness never rests
on it: the database's locks order every append whichever process makes
it, so when the socket does not answer a worker falls back to its own
thread, and a statement whose answer was lost is appended again, which
the ledger answers as a re-post.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Literal, TypeAlias

from django.conf import settings
from django.db import connections

from provenance.append import group, process
from provenance.append.pending import Append, Outcome, Pending
from provenance.errors import LedgerError

log = logging.getLogger(__name__)


class _Stop:
    """Queued after the requests the sequencer finishes before it stops."""


_STOP = _Stop()

Request: TypeAlias = tuple[list[Pending], "Future[list[Outcome]]"]
_queue: queue.Queue[Request | _Stop] = queue.Queue()
_thread: threading.Thread | None = None
_started = threading.Lock()
_socket_suspended_until = 0.0


def submit(pendings: list[Pending], append: Append) -> list[Outcome]:
    """Append checked statements, in order, in one batch (with `append`, in
    this process's sequencer thread, when the sequencer process does not
    answer); return each one's
    AppendResult, LedgerError or AppendFailed, in the same order.

    Answered within CAIRN_APPEND_TIMEOUT: when the outcome is not known by
    then, the answer is `outcome_unknown` (the statements may yet be logged;
    re-posting them is safe), never a claim that nothing was stored.
    """
    deadline = time.monotonic() + settings.CAIRN_APPEND_TIMEOUT
    answer = _through_socket(pendings, deadline)
    if isinstance(answer, list):
        return answer
    outcomes = submit_here(pendings, append, timeout=_left(deadline))
    if answer == "handed over":
        # The process may still log them: an `unavailable` here is not the whole truth.
        unknown = unconfirmed(settings.CAIRN_APPEND_TIMEOUT)
        outcomes = [unknown if _is_unavailable(outcome) else outcome for outcome in outcomes]
    return outcomes


def _through_socket(pendings: list[Pending], deadline: float) -> list[Outcome] | Literal["not sent", "handed over"]:
    """The outcomes from the sequencer process, or why this process appends them."""
    path = settings.CAIRN_SEQUENCER_SOCKET
    if not path or time.monotonic() < _socket_suspended_until or len(pendings) > settings.CAIRN_SEQUENCER_PROCESS_MAX:
        return "not sent"
    # The sequencer is waited for while its loop turns (busy with the
    # requests before these), until there is just time left to append here.
    until = deadline - _OWN_APPEND_RESERVE * settings.CAIRN_APPEND_TIMEOUT
    try:
        return process.submit(path, pendings, timeout=settings.CAIRN_SEQUENCER_TIMEOUT, until=until)
    except process.Unavailable as exc:
        log.warning("sequencer process unavailable (%s); appending in this process", exc)
        return "not sent"
    except process.NoAnswer as exc:
        # It may have the statements and still log them: appending them here
        # too is safe (the ledger answers a second copy as a re-post), and
        # when its loop stopped this process stops asking it for a while.
        if exc.stopped:
            _suspend_socket()
        log.warning("sequencer process did not answer (%s); appending in this process", exc)
        return "handed over"


# The part of CAIRN_APPEND_TIMEOUT kept for appending in this process when
# the sequencer process has not answered.
_OWN_APPEND_RESERVE = 0.3


def _is_unavailable(outcome: Outcome) -> bool:
    return isinstance(outcome, LedgerError) and outcome.code == "unavailable"


def unconfirmed(seconds: float) -> LedgerError:
    """The answer when an append's outcome is not known in time."""
    return LedgerError(
        "outcome_unknown",
        f"Cairn could not confirm within {seconds:g} s whether this statement was logged: it may still be. "
        "Post the very same envelope again: 200 means it was logged, 201 that it is logged now.",
    )


def _suspend_socket() -> None:
    """Append in this process for CAIRN_SEQUENCER_RETRY_SECONDS after the
    sequencer process failed to answer in time (stopped, hung, overloaded)."""
    global _socket_suspended_until
    _socket_suspended_until = time.monotonic() + settings.CAIRN_SEQUENCER_RETRY_SECONDS


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.05)


def submit_here(pendings: list[Pending], append: Append, timeout: float | None = None) -> list[Outcome]:
    """Append through this process's sequencer thread, waiting at most
    `timeout`; the thread, started on the first call, appends with `append`
    (the write path passes the same function on every call)."""
    _ensure_thread(append)
    future: Future[list[Outcome]] = Future()
    _queue.put((list(pendings), future))
    timeout = settings.CAIRN_APPEND_TIMEOUT if timeout is None else timeout
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        return [unconfirmed(settings.CAIRN_APPEND_TIMEOUT)] * len(pendings)


def _ensure_thread(append: Append) -> None:
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
            _thread = threading.Thread(target=_run, args=(append,), name="cairn-sequencer", daemon=True)
            _thread.start()


def shutdown(timeout: float = 10) -> None:
    """Stop this process's sequencer after the batches queued before, closing
    its database connection (test teardown, before the database is dropped)."""
    global _thread
    with _started:
        thread, _thread = _thread, None
    if thread is not None and thread.is_alive():
        _queue.put(_STOP)
        thread.join(timeout)


def _take_batch() -> list[Request] | None:
    """Requests waiting, whole, up to CAIRN_SEQUENCER_BATCH statements (the
    first request whatever its size); None once asked to stop."""
    first = _queue.get()
    if isinstance(first, _Stop):
        return None
    batch, statements = [first], len(first[0])
    while statements < settings.CAIRN_SEQUENCER_BATCH:
        try:
            item = _queue.get_nowait()
        except queue.Empty:
            break
        if isinstance(item, _Stop):  # finish what came before it, then stop
            _queue.put(item)
            break
        batch.append(item)
        statements += len(item[0])
    return batch


def _run(append: Append) -> None:
    while (batch := _take_batch()) is not None:
        groups = [pendings for pendings, _ in batch]
        # A batch that fails as a whole is appended again statement by
        # statement (the write path's append does that), so one that breaks
        # the write fails alone.
        outcomes = append(group.flatten(groups))
        for (_, future), answer in zip(batch, group.regroup(groups, outcomes), strict=True):
            future.set_result(answer)
    connections.close_all()
