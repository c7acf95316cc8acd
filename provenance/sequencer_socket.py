"""The wire between web workers and a sequencer process (a Unix socket).

The worker sends a request's statements (ingest.Pending: statements that
passed the checks needing no ledger state; one for POST /attestations, a
batch submission's in order), the sequencer process answers with their
outcomes (AppendResult, LedgerError, or AppendFailed where an append could
not be written). Messages are multiprocessing.connection's: each one framed
by its length, and every connection authenticated both ways by its HMAC
challenge before any message; their bytes are JSON (provenance.sequencer_wire),
never pickle, so a peer can send data but never code or objects.

The authentication key is HMAC-SHA256(SECRET_KEY, "cairn sequencer socket
v1"). Every process of one install has the same SECRET_KEY (the environment
or the 0600 key file settings create in CAIRN_VAR_DIR) and nothing else
can read it, so no key needs handing round, nor a file that could disagree
with the running server after a restart. The socket itself is created mode
0600 inside CAIRN_VAR_DIR (or wherever CAIRN_SEQUENCER_SOCKET points).

multiprocessing.connection's Connection and its challenge functions are used
as they are, on sockets this module makes: its Listener.accept and Client
wait without limit for the peer's side of the handshake, and here every
read and write is bounded (SO_RCVTIMEO, SO_SNDTIMEO) so that a stuck peer
costs a timeout, never a hang: CAIRN_SEQUENCER_TIMEOUT on the server, the
caller's timeout on the worker, whose wait ends in NoAnswer.

Each worker thread keeps one connection open. The sequencer process reads
all of them from one thread: what has arrived when a batch is done makes
the next batch, the same group commit as provenance.sequencer's thread
without a thread per connection.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import selectors
import socket
import struct
import threading
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge
from pathlib import Path
from typing import IO, TypeAlias

from django.conf import settings
from django.db import connections

from provenance import group_commit, sequencer_wire
from provenance.pending import Append, Outcome, Pending

log = logging.getLogger(__name__)

# One end of a connection: bytes both ways.
Channel: TypeAlias = "Connection[bytes, bytes]"


class Unavailable(ConnectionError):
    """The sequencer process could not be reached, or the connection broke
    before its answer came (the caller appends by itself)."""


class NoAnswer(TimeoutError):
    """The sequencer process took the connection but did not answer in time:
    it may have the statement and still log it."""


class AlreadyServing(RuntimeError):
    """Another live sequencer process serves this socket."""


def authkey() -> bytes:
    """The key both ends prove they hold (see the module's docstring)."""
    return hmac.new(settings.SECRET_KEY.encode(), b"cairn sequencer socket v1", hashlib.sha256).digest()


def _bound(sock: socket.socket, seconds: float) -> None:
    """Every blocking read and write on `sock` gives up after `seconds`
    (BlockingIOError), which a Connection built on it inherits."""
    whole = max(seconds, 0.001)
    timeval = struct.pack("ll", int(whole), int((whole % 1) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def _rebound(channel: Channel, seconds: float) -> None:
    sock = socket.socket(fileno=channel.fileno())
    try:
        _bound(sock, seconds)
    finally:
        sock.detach()  # the channel keeps the descriptor


# --- the worker's side -------------------------------------------------------

_local = threading.local()


def submit(path: str, pendings: list[Pending], timeout: float | None = None) -> list[Outcome]:
    """Send `pendings` to the sequencer process at `path`; return their outcomes, in order.

    Raises Unavailable when the process cannot be reached or the connection
    breaks before the answer comes, NoAnswer when no answer comes within
    `timeout` seconds (default CAIRN_SEQUENCER_TIMEOUT).
    """
    timeout = settings.CAIRN_SEQUENCER_TIMEOUT if timeout is None else timeout
    channel: Channel | None = getattr(_local, "sock", None)
    try:
        if channel is None:
            channel = _local.sock = _connect(path, timeout)
        else:
            _rebound(channel, timeout)
        channel.send_bytes(sequencer_wire.encode_request(pendings))
        return sequencer_wire.decode_answer(channel.recv_bytes())
    except BlockingIOError as exc:  # a read or write bound ran out
        _forget(channel)
        raise NoAnswer(f"{path}: no answer within {timeout:g} s") from exc
    except (OSError, EOFError, AuthenticationError, sequencer_wire.WireError) as exc:  # a connect timeout included
        _forget(channel)
        raise Unavailable(f"{path}: {exc}") from exc


def _connect(path: str, timeout: float) -> Channel:
    """A connection to the server at `path`, authenticated both ways, its
    reads and writes bounded by `timeout`. A server that accepts but does
    not complete the handshake in time is taken as stuck, as when a request
    gets no answer."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.setblocking(True)
        _bound(sock, timeout)
    except BaseException:
        sock.close()
        raise
    channel: Channel = Connection(sock.detach())
    try:
        answer_challenge(channel, authkey())
        deliver_challenge(channel, authkey())
    except BaseException:
        channel.close()
        raise
    return channel


def _forget(channel: Channel | None) -> None:
    """Close this thread's connection to the sequencer process, if any."""
    _local.sock = None
    if channel is not None:
        channel.close()


# --- the sequencer process's side --------------------------------------------


class Server:
    """Serves workers' connections on `path` from one thread: whatever
    requests have arrived when a batch ends make the next batch, appended
    with `append` (by default the group commit's, provenance.group_commit).

    Each connection carries one request at a time (its worker thread waits
    for the answer), so every readable connection holds one request's
    statements; they are read, appended together in one batch, and each
    connection is answered with its own statements' outcomes.
    """

    def __init__(self, path: str | os.PathLike[str], append: Append = group_commit.append) -> None:
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
            batch = self._read_batch(timeout=0.5)
            if batch:
                self._append_and_answer(batch)
        self._close()

    def stop(self) -> None:
        """Stop after the batch in hand (callable from a signal handler or thread)."""
        self._stopping.set()

    def _read_batch(self, timeout: float) -> list[tuple[Channel, list[Pending]]]:
        batch: list[tuple[Channel, list[Pending]]] = []
        statements = 0
        for key, _ in self.selector.select(timeout):
            if key.fileobj is self.listener:
                self._accept()
                continue
            channel: Channel = key.data
            try:
                # The worker sent the whole message at once; the rest of one
                # that arrived in part follows at once (the timeout bounds it).
                pendings = _read_request(channel)
            except (OSError, EOFError, sequencer_wire.WireError):
                self._drop(channel)
                continue
            batch.append((channel, pendings))
            statements += len(pendings)
            if statements >= settings.CAIRN_SEQUENCER_BATCH:
                break
        return batch

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(True)
        _bound(sock, settings.CAIRN_SEQUENCER_TIMEOUT)
        channel: Channel = Connection(sock.detach())
        try:
            _handshake_as_server(channel)
        except (OSError, EOFError, AuthenticationError) as exc:  # a probe (`answers`), or not one of ours
            log.debug("connection refused in its handshake: %r", exc)
            channel.close()
            return
        self.selector.register(channel, selectors.EVENT_READ, data=channel)

    def _append_and_answer(self, batch: list[tuple[Channel, list[Pending]]]) -> None:
        groups = [pendings for _, pendings in batch]
        answers = group_commit.regroup(groups, self.append(group_commit.flatten(groups)))
        for (channel, _), answer in zip(batch, answers, strict=True):
            try:
                channel.send_bytes(sequencer_wire.encode_answer(answer))
            except OSError:
                self._drop(channel)

    def _drop(self, channel: Channel) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(channel)
        channel.close()

    def _close(self) -> None:
        for key in list(self.selector.get_map().values()):
            if isinstance(key.data, Connection):
                key.data.close()
        self.listener.close()
        self.selector.close()
        self.path.unlink(missing_ok=True)
        self._lock.close()
        connections.close_all()


def _handshake_as_server(channel: Channel) -> None:
    deliver_challenge(channel, authkey())
    answer_challenge(channel, authkey())


def _read_request(channel: Channel) -> list[Pending]:
    return sequencer_wire.decode_request(channel.recv_bytes())


def read_first_request(sock: socket.socket) -> list[Pending]:
    """Stand in for a sequencer process on one connection accepted from
    `sock`'s listener: its handshake, then its first request. `sock` stays
    open (and the worker waiting) until its owner closes it."""
    channel: Channel = Connection(os.dup(sock.fileno()))
    try:
        _handshake_as_server(channel)
        return _read_request(channel)
    finally:
        channel.close()


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
    handle = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115 (held until _close)
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
