"""The wire between web workers and a sequencer process (a Unix socket).

The worker sends a request's statements (pending.Pending: statements that
passed the checks needing no ledger state; one for POST /attestations, a
batch submission's in order), the sequencer process answers with their
outcomes (AppendResult, LedgerError, or AppendFailed where an append could
not be written). Messages are framed by their length, and every connection
is authenticated both ways by an HMAC-SHA256 challenge before any message
(provenance.append.handshake); their bytes are JSON
(provenance.append.wire), never pickle, so a peer can send data but
never code or objects.

The authentication key is HMAC-SHA256(SECRET_KEY, "cairn sequencer socket
v1"). Every process of one install has the same SECRET_KEY (the environment
or the 0600 key file settings create in CAIRN_VAR_DIR) and nothing else
can read it, so no key needs handing round, nor a file that could disagree
with the running server after a restart. The socket itself is created mode
0600 inside CAIRN_VAR_DIR (or wherever CAIRN_SEQUENCER_SOCKET points).

The key proves a peer is of this install; it does not make the peer's word
evidence. What a request claims that the ledger relies on is checked again
by the sequencer: each envelope is parsed again from its bytes, re-checked
as the web path checks it (checks 1 to 4, and every signature against the
registered key it names: `append_handed_over`, handed over by
provenance.append.checks), and a request whose moment (`now`) is not the
sequencer's own, within CAIRN_APPEND_TIMEOUT, is refused. A peer can
therefore only have logged what a web worker would log for a caller it
names, which is no more than the SECRET_KEY grants anyway (it signs
sessions).

No peer can hold the sequencer: it serves every connection from one thread
without blocking, and each connection is held to a frame size limit
(`frame_limit`), a time limit for its handshake, for each frame once begun
and for each answer (CAIRN_SEQUENCER_TIMEOUT, the sequencer's own appends
not counted, CAIRN_APPEND_TIMEOUT at most), and to MAX_CONNECTIONS
connections in all (see provenance.append.handshake). On the worker's side
every wait is bounded: by CAIRN_SEQUENCER_TIMEOUT once the sequencer's loop
has stopped turning (its heartbeat), and by the caller's limit in all; the
end of either is NoAnswer.

Each worker thread keeps one connection open. The sequencer process reads
all of them from one thread: what has arrived when a batch is done makes
the next batch, the same group commit as provenance.append.sequencer's thread
without a thread per connection.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import select
import selectors
import socket
import threading
import time
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import connections
from django.utils import timezone

from provenance.append import group, handshake, wire
from provenance.append.handshake import Peer
from provenance.append.pending import Append, Outcome, Pending

log = logging.getLogger(__name__)

# Connections the sequencer keeps at once: each web worker thread holds one,
# so this is far above any host's; beyond it a new connection is closed at
# once (its worker appends by itself).
MAX_CONNECTIONS = 1024


class Unavailable(ConnectionError):
    """The sequencer process could not be reached, or the connection broke
    before its answer came (the caller appends by itself)."""


class NoAnswer(TimeoutError):
    """The sequencer process took the connection but did not answer in time:
    it may have the statement and still log it. `stopped`: its loop had
    stopped turning (hung, SIGSTOPped), rather than still being busy."""

    def __init__(self, message: str, *, stopped: bool) -> None:
        super().__init__(message)
        self.stopped = stopped


class _StillBusy(TimeoutError):
    """No answer by the caller's limit, the sequencer's loop still turning."""


class AlreadyServing(RuntimeError):
    """Another live sequencer process serves this socket."""


def authkey() -> bytes:
    """The key both ends prove they hold (see the module's docstring)."""
    return hmac.new(settings.SECRET_KEY.encode(), b"cairn sequencer socket v1", hashlib.sha256).digest()


def frame_limit() -> int:
    """The longest message either side takes: a batch submission's
    statements, each envelope's bytes with its caller and moment, fit
    twice the batch body limit (CAIRN_MAX_BATCH_BODY_BYTES)."""
    return 2 * settings.CAIRN_MAX_BATCH_BODY_BYTES


# --- the worker's side -------------------------------------------------------

_local = threading.local()


def submit(
    path: str, pendings: list[Pending], timeout: float | None = None, until: float | None = None
) -> list[Outcome]:
    """Send `pendings` to the sequencer process at `path`; return their outcomes, in order.

    The answer may take as long as the sequencer is busy with the requests
    before this one, up to `until` (time.monotonic; default: `timeout` from
    now), so long as the sequencer's loop keeps turning (`heartbeat`). Raises
    Unavailable when the process cannot be reached or the connection breaks
    before the answer comes, NoAnswer when no answer came within `timeout`
    seconds (default CAIRN_SEQUENCER_TIMEOUT) and the loop has not turned
    for as long, or none came by `until`.
    """
    timeout = settings.CAIRN_SEQUENCER_TIMEOUT if timeout is None else timeout
    patience = _Patience(path, time.monotonic(), timeout, until)
    sock: socket.socket | None = getattr(_local, "sock", None)
    try:
        if sock is None:
            sock = _local.sock = _connect(path, min(patience.until, patience.sent + timeout))
        _send(sock, handshake.frame(wire.encode_request(pendings)), patience)
        return wire.decode_answer(_receive(sock, frame_limit(), patience))
    except TimeoutError as exc:  # a read or write ran out of time (socket.timeout is TimeoutError)
        _forget(sock)
        raise NoAnswer(f"{path}: {exc}", stopped=not isinstance(exc, _StillBusy)) from exc
    except (OSError, EOFError, wire.WireError) as exc:  # LinkError among them
        _forget(sock)
        raise Unavailable(f"{path}: {exc}") from exc


class _Patience:
    """How long a worker waits on the sequencer at `path` for one request
    sent at `sent`: while the sequencer's loop turns, until `until` (default
    `timeout` after `sent`); once the loop has stopped turning, `timeout`
    after `sent` at the most. A sequencer still busy with earlier requests
    (batches of a thousand queued from every worker, their answers written
    between its appends) is waited for, not taken for a stuck one."""

    def __init__(self, path: str, sent: float, timeout: float, until: float | None) -> None:
        self.path, self.sent, self.timeout = path, sent, timeout
        self.until = sent + timeout if until is None else until

    def wait(self, sock: socket.socket, event: int) -> None:
        """Return when `sock` is ready for `event`; TimeoutError when the
        patience is spent (_StillBusy when the loop turned all along)."""
        poller = select.poll()
        poller.register(sock, event)
        while True:
            now = time.monotonic()
            if now >= self.until:
                raise _StillBusy(f"no answer within {self.until - self.sent:.3g} s, the sequencer busy all along")
            if poller.poll(1000 * min(self.until - now, self.timeout / 4)):
                return
            if time.monotonic() - self.sent >= self.timeout and heartbeat_age(self.path) >= self.timeout:
                raise TimeoutError(f"no answer within {self.timeout:g} s, and the sequencer's loop stopped turning")


def _send(sock: socket.socket, data: bytes, patience: _Patience) -> None:
    """Write `data` as the socket takes it: a request larger than the
    socket's buffer waits while the sequencer finishes the batch in hand."""
    sock.settimeout(patience.timeout)  # each send follows a poll that found room
    view = memoryview(data)
    while view:
        patience.wait(sock, select.POLLOUT)
        view = view[sock.send(view) :]


def _receive(sock: socket.socket, limit: int, patience: _Patience) -> bytes:
    """The answer's frame, read as it comes: a large one is written in parts
    between the sequencer's appends."""
    received = bytearray()
    size: int | None = None
    while size is None or len(received) < handshake.HEADER_SIZE + size:
        patience.wait(sock, select.POLLIN)
        chunk = sock.recv(handshake.READ_SIZE)
        if not chunk:
            raise EOFError("the sequencer closed the connection")
        received += chunk
        if size is None and len(received) >= handshake.HEADER_SIZE:
            size = handshake.frame_size(received, limit)
    if len(received) > handshake.HEADER_SIZE + size:
        raise handshake.LinkError("more than one frame at once")
    return bytes(received[handshake.HEADER_SIZE :])


def heartbeat(path: str | os.PathLike[str]) -> Path:
    """The file whose modification time the sequencer at `path` sets each
    time its loop turns (at least every half second): its lock file."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def heartbeat_age(path: str | os.PathLike[str]) -> float:
    """Seconds since the sequencer at `path` last turned its loop (infinite: never)."""
    try:
        return time.time() - heartbeat(path).stat().st_mtime
    except OSError:
        return float("inf")


def _connect(path: str, deadline: float) -> socket.socket:
    """A connection to the server at `path`, authenticated both ways by
    `deadline`. A server that accepts but does not complete the handshake
    in time is taken as stuck, as when a request gets no answer; one that
    cannot be connected to in time, as unavailable."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            sock.connect(path)
        except TimeoutError as exc:
            raise ConnectionError(f"could not connect in time: {exc}") from exc
        handshake.handshake_as_worker(sock, authkey(), deadline)
    except BaseException:
        sock.close()
        raise
    return sock


def _forget(sock: socket.socket | None) -> None:
    """Close this thread's connection to the sequencer process, if any."""
    _local.sock = None
    if sock is not None:
        sock.close()


# --- the sequencer process's side --------------------------------------------


class Server:
    """Serves workers' connections on `path` from one thread: whatever
    requests have arrived when a batch ends make the next batch, appended
    with `append`, which the builder passes: the write path's append of
    statements handed over, which checks them again
    (provenance.append.checks.append_handed_over).

    Each connection carries one request at a time (its worker thread waits
    for the answer), so every connection holds at most one request's
    statements; those complete when the selector wakes are appended
    together in one batch, and each connection is answered with its own
    statements' outcomes. No read or write waits on a peer
    (provenance.append.handshake.Peer); a peer that overruns its time is dropped.
    """

    def __init__(self, path: str | os.PathLike[str], append: Append) -> None:
        self.path = Path(path)
        self.append = append
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _take_lock(self.path)
        try:
            self._clear_stale_socket()
        except BaseException:
            self._lock.close()
            raise
        self.listener = _listen(self.path)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.peers: set[Peer] = set()
        self._key = authkey()
        self._stopping = threading.Event()

    def _clear_stale_socket(self) -> None:
        if self.path.exists() and not self.path.is_socket():
            raise FileExistsError(f"{self.path} exists and is not a socket: not replacing it")
        if self.path.is_socket():
            if answers(self.path):
                raise AlreadyServing(f"a live sequencer answers on {self.path}")
            self.path.unlink()  # left by a process that did not stop cleanly (killed)

    def serve_forever(self) -> None:
        """Append and answer batches until `stop`."""
        while not self._stopping.is_set():
            os.utime(self._lock.fileno())  # the heartbeat: this loop turns
            batch = self._read_batch(timeout=self._wait())
            self._drop_expired()
            if batch:
                self._append_and_answer(batch)
        self._close()

    def stop(self) -> None:
        """Stop after the batch in hand (callable from a signal handler or thread)."""
        self._stopping.set()

    def _wait(self) -> float:
        """How long to wait for the sockets: until the next peer's time is up, at most half a second."""
        deadlines = [peer.deadline for peer in self.peers if peer.deadline is not None]
        return max(min([0.5, *(deadline - time.monotonic() for deadline in deadlines)]), 0.0)

    def _read_batch(self, timeout: float) -> list[tuple[Peer, list[Pending]]]:
        batch: list[tuple[Peer, list[Pending]]] = []
        statements = 0
        for key, events in self.selector.select(timeout):
            if key.fileobj is self.listener:
                self._accept()
                continue
            peer: Peer = key.data
            try:
                pendings = self._serve(peer, events)
            except (OSError, EOFError, wire.WireError) as exc:  # LinkError among them
                log.debug("sequencer connection dropped: %r", exc)
                self._drop(peer)
                continue
            if pendings is not None:
                batch.append((peer, pendings))
                statements += len(pendings)
                if statements >= settings.CAIRN_SEQUENCER_BATCH:
                    break
        return batch

    def _serve(self, peer: Peer, events: int) -> list[Pending] | None:
        """Write what `peer` is owed, read what it sent: the request it completes, if any."""
        if events & selectors.EVENT_WRITE:
            peer.flush()
        message = peer.receive() if events & selectors.EVENT_READ else None
        self._watch(peer)
        if message is None:
            return None
        return wire.decode_request(message, received_at=timezone.now())

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            if len(self.peers) >= MAX_CONNECTIONS:
                log.warning("sequencer: %d connections open; refusing another", len(self.peers))
                sock.close()
                continue
            try:
                peer = Peer(
                    sock,
                    self._key,
                    limit=frame_limit(),
                    timeout=settings.CAIRN_SEQUENCER_TIMEOUT,
                    most=settings.CAIRN_APPEND_TIMEOUT,  # a request older than that is refused anyway
                )
            except OSError:  # gone already (a probe: `answers`)
                sock.close()
                continue
            self.peers.add(peer)
            self.selector.register(peer, self._events(peer), data=peer)

    @staticmethod
    def _events(peer: Peer) -> int:
        return selectors.EVENT_READ | (selectors.EVENT_WRITE if peer.writing else 0)

    def _watch(self, peer: Peer) -> None:
        self.selector.modify(peer, self._events(peer), data=peer)

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for peer in [peer for peer in self.peers if peer.expired(now)]:
            log.info("sequencer: dropping a connection that overran its time (%s)", peer.state.value)
            self._drop(peer)

    def _append_and_answer(self, batch: list[tuple[Peer, list[Pending]]]) -> None:
        groups = [pendings for _, pendings in batch]
        began = time.monotonic()
        outcomes = self.append(group.flatten(groups))
        spent = time.monotonic() - began
        for peer in self.peers:  # nobody's time ran while the sequencer appended
            peer.excuse(spent)
        answers = group.regroup(groups, outcomes)
        for (peer, _), answer in zip(batch, answers, strict=True):
            if peer not in self.peers:
                continue
            try:
                peer.answer(wire.encode_answer(answer))
                self._watch(peer)
            except OSError:
                self._drop(peer)

    def _drop(self, peer: Peer) -> None:
        self.peers.discard(peer)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(peer)
        peer.close()

    def _close(self) -> None:
        for peer in list(self.peers):
            self._drop(peer)
        self.listener.close()
        self.selector.close()
        self.path.unlink(missing_ok=True)
        self._lock.close()
        connections.close_all()


def read_first_request(sock: socket.socket) -> list[Pending]:
    """Stand in for a sequencer process on one connection accepted from
    `sock`'s listener: its handshake, then its first request. `sock` stays
    open (and the worker waiting) until its owner closes it."""
    deadline = time.monotonic() + settings.CAIRN_SEQUENCER_TIMEOUT
    handshake.handshake_as_sequencer(sock, authkey(), deadline)
    message = handshake.recv_frame(sock, frame_limit(), deadline)
    return wire.decode_request(message, received_at=timezone.now())


def _listen(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # created 0600: only this user may connect
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    listener.listen(128)
    listener.setblocking(False)
    return listener


def _take_lock(path: Path) -> IO[bytes]:
    """Hold `<socket>.lock` (flock) for the server's life: a second server
    for the same socket is refused even while the first is still starting,
    and the kernel drops the lock when a process dies, however it dies."""
    handle = open(heartbeat(path), "a+b")  # noqa: SIM115 (held until _close)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AlreadyServing(f"another sequencer holds {handle.name}") from None
    return handle


def answers(path: str | os.PathLike[str]) -> bool:
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
