"""The wire between web workers and a sequencer process (a Unix socket).

Frames are a 4-byte big-endian length and a pickle: the worker sends a
request's list of ingest.Pending (statements that passed the checks needing
no ledger state; one for POST /attestations, a batch submission's in
order), the sequencer process answers with the list of their AppendResult
or LedgerError, or a SequencerFailure when the batch could not be written. Pickle is safe
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
    """The sequencer process could not be reached, or its answer was lost."""


class SequencerFailure(RuntimeError):
    """The sequencer process could not write the batch holding the statement."""


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


def submit(path: str, pendings: list) -> list:
    """Send `pendings` to the sequencer process at `path`; return their outcomes.

    Raises Unavailable when the process cannot be reached or the connection
    breaks before the answer comes (the caller then appends by itself).
    """
    sock = getattr(_local, "sock", None)
    try:
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(settings.CAIRN_SEQUENCER_TIMEOUT)
            sock.connect(path)
            _local.sock = sock
        send_frame(sock, list(pendings))
        outcome = recv_frame(sock)
    except TimeoutError:
        _forget(sock)
        raise
    except (OSError, EOFError) as exc:
        _forget(sock)
        raise Unavailable(f"{path}: {exc}") from exc
    if isinstance(outcome, SequencerFailure):
        raise outcome
    return outcome


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
    statements; they are read, appended together in one ingest.append_batch,
    and each connection is answered with its own statements' outcomes.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_socket():
            self.path.unlink()  # left by a process that did not stop cleanly
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
        from provenance.ingest import append_batch
        from provenance.sequencer import flatten, regroup

        groups = [pendings for _, pendings in batch]
        try:
            answers = regroup(groups, append_batch(flatten(groups)))
        except Exception as exc:  # the batch did not commit: nobody's statement was logged
            log.exception("append batch of %d requests failed", len(batch))
            connections.close_all()  # start the next batch on a fresh connection
            answers = [SequencerFailure(f"the append could not be written: {exc!r}")] * len(batch)
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
        connections.close_all()
