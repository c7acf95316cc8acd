"""The wire between web workers and a sequencer process (a Unix socket).

Frames are a 4-byte big-endian length and a pickle: the worker sends a
request's list of ingest.Pending (statements that passed the checks needing
no ledger state; one for POST /attestations, a batch submission's in
order), the sequencer process answers with the list of their AppendResult,
LedgerError, or ingest.AppendFailed where an append could not be written. Pickle is safe
here because both ends are this code, on one host, as one user: the socket
is created mode 0600 inside CAIRN_VAR_DIR (or wherever
CAIRN_SEQUENCER_SOCKET points).

Each worker thread keeps one connection open. The sequencer process reads
all of them from one thread: what has arrived when a batch is done makes
the next batch, the same group commit as provenance.sequencer's thread
without a thread per connection.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import selectors
import socket
import struct
import threading
from pathlib import Path

from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")


class Unavailable(ConnectionError):
    """The sequencer process could not be reached, or the connection broke
    before its answer came (the caller appends by itself)."""


class NoAnswer(TimeoutError):
    """The sequencer process has the statement but did not answer in time:
    it may still log it."""


class AlreadyServing(RuntimeError):
    """Another live sequencer process serves this socket."""


def send_frame(sock: socket.socket, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LENGTH.pack(len(data)) + data)


def recv_frame(sock: socket.socket) -> object:
    (length,) = _LENGTH.unpack(_recv_exactly(sock, _LENGTH.size))
    return pickle.loads(_recv_exactly(sock, length))


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the peer closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


# --- the worker's side -------------------------------------------------------

_local = threading.local()


def submit(path: str, pendings: list, timeout: float | None = None) -> list:
    """Send `pendings` to the sequencer process at `path`; return their outcomes, in order.

    Raises Unavailable when the process cannot be reached or the connection
    breaks before the answer comes, NoAnswer when no answer comes within
    `timeout` seconds (default CAIRN_SEQUENCER_TIMEOUT).
    """
    timeout = settings.CAIRN_SEQUENCER_TIMEOUT if timeout is None else timeout
    sock = getattr(_local, "sock", None)
    try:
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(path)
            _local.sock = sock
    except OSError as exc:  # a timeout included: nothing was sent
        _forget(sock)
        raise Unavailable(f"{path}: {exc}") from exc
    try:
        sock.settimeout(timeout)
        send_frame(sock, list(pendings))
        return recv_frame(sock)
    except TimeoutError as exc:
        _forget(sock)
        raise NoAnswer(f"{path}: no answer within {timeout:g} s") from exc
    except (OSError, EOFError) as exc:
        _forget(sock)
        raise Unavailable(f"{path}: {exc}") from exc


def _forget(sock: socket.socket | None) -> None:
    _local.sock = None
    if sock is not None:
        sock.close()


# --- the sequencer process's side --------------------------------------------


class Server:
    """Serves workers' connections on `path` from one thread: whatever
    requests have arrived when a batch ends make the next batch.

    Each connection carries one request at a time (its worker thread waits
    for the answer), so every readable connection holds one request's
    statements; they are read, appended together in one batch, and each
    connection is answered with its own statements' outcomes.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _take_lock(self.path)
        if self.path.exists() and not self.path.is_socket():
            self._lock.close()
            raise FileExistsError(f"{self.path} exists and is not a socket: not replacing it")
        if self.path.is_socket():
            if answers(self.path):
                self._lock.close()
                raise AlreadyServing(f"a live sequencer answers on {self.path}")
            self.path.unlink()  # left by a process that did not stop cleanly (killed)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # created 0600: only this user may connect
        try:
            self.listener.bind(str(self.path))
        finally:
            os.umask(old_umask)
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self._stopping = threading.Event()

    def serve_forever(self) -> None:
        """Append and answer batches until `stop`."""
        while not self._stopping.is_set():
            batch = self._read_batch(timeout=0.5)
            if batch:
                self._append_and_answer(batch)
        self._close()

    def stop(self) -> None:
        """Stop after the batch in hand (callable from a signal handler or thread)."""
        self._stopping.set()

    def _read_batch(self, timeout: float) -> list[tuple[socket.socket, list]]:
        batch, statements = [], 0
        for key, _ in self.selector.select(timeout):
            if key.fileobj is self.listener:
                self._accept()
                continue
            conn = key.fileobj
            try:
                # The worker sent the whole frame at once; the rest of a frame
                # that arrived in part follows at once (the timeout bounds it).
                pendings = recv_frame(conn)
            except (OSError, EOFError, pickle.UnpicklingError):
                self._drop(conn)
                continue
            batch.append((conn, pendings))
            statements += len(pendings)
            if statements >= settings.CAIRN_SEQUENCER_BATCH:
                break
        return batch

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(True)
        conn.settimeout(settings.CAIRN_SEQUENCER_TIMEOUT)
        self.selector.register(conn, selectors.EVENT_READ)

    def _append_and_answer(self, batch: list[tuple[socket.socket, list]]) -> None:
        from provenance.ingest import append_batch_isolated
        from provenance.sequencer import flatten, regroup

        groups = [pendings for _, pendings in batch]
        answers = regroup(groups, append_batch_isolated(flatten(groups)))
        for (conn, _), answer in zip(batch, answers, strict=True):
            try:
                send_frame(conn, answer)
            except OSError:
                self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        conn.close()

    def _close(self) -> None:
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()
        self.path.unlink(missing_ok=True)
        self._lock.close()
        connections.close_all()


def _take_lock(path: Path):
    """Hold `<socket>.lock` (flock) for the server's life: a second server
    for the same socket is refused even while the first is still starting,
    and the kernel drops the lock when a process dies, however it dies."""
    handle = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115 (held until _close)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AlreadyServing(f"another sequencer holds {handle.name}") from None
    return handle


def answers(path: str | os.PathLike) -> bool:
    """Does a process accept connections on the socket at `path`?"""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True
