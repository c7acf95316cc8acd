"""The framing and handshake of the sequencer socket, and the sequencer's
side of one connection as a state machine that never blocks.

A frame is its length (4 bytes, big-endian, unsigned) and that many bytes.
Every connection is authenticated both ways before any message, by
HMAC-SHA256 under the socket key (provenance.append.process.authkey):

    sequencer -> worker   HELLO + 32 random bytes (the sequencer's challenge)
    worker -> sequencer   HMAC(key, b"worker" + that challenge) + 32 random bytes
    sequencer -> worker   HMAC(key, b"sequencer" + the worker's challenge)

A wrong answer closes the connection. The two labels keep either side's
answer from being replayed as the other's.

The sequencer serves every connection from one thread, so no peer may hold
it: its side (`Peer`) reads and writes only what the socket has ready, and
each connection is held to limits:

* a frame longer than its limit is refused from its header, before any
  byte of it is kept (a sender cannot make the sequencer allocate more);
* the handshake must end within `timeout` seconds of the connection, a
  frame within `timeout` seconds of its first byte, and an answer be taken
  by the worker within `timeout` seconds: a peer that falls silent or
  trickles bytes is dropped when its time is up, and never delays others.
  The time the sequencer spends appending is not counted (`Peer.excuse`:
  it reads nothing meanwhile, and an honest request of a megabyte crosses
  the socket's buffer in several reads, with a batch appended between
  each), but no step lasts more than `most` seconds in all;
* a worker sends one request and waits for its answer; bytes that come
  before the answer is taken break the protocol, and drop the connection.

A worker's idle connection (between its requests) has no limit: each web
worker thread keeps one open.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
import time
from enum import Enum

HELLO = b"cairn sequencer v2 "
CHALLENGE_BYTES = 32
_HEADER = struct.Struct(">I")
HEADER_SIZE = _HEADER.size
READ_SIZE = 256 * 1024
# The largest frame of the handshake itself (HELLO and a challenge, or an HMAC and a challenge).
HANDSHAKE_FRAME = len(HELLO) + 2 * CHALLENGE_BYTES


class LinkError(ConnectionError):
    """The peer broke the protocol: a frame too long, a wrong handshake,
    bytes out of turn, or too slow."""


def frame(data: bytes) -> bytes:
    """`data` as one frame."""
    return _HEADER.pack(len(data)) + data


def proof(key: bytes, role: bytes, challenge: bytes) -> bytes:
    """The answer to `challenge` by the side named `role`."""
    return hmac.new(key, role + challenge, hashlib.sha256).digest()


# --- a blocking end (the worker's, and a stand-in sequencer in tests) ----------------


def send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(frame(data))


def recv_frame(sock: socket.socket, limit: int, deadline: float) -> bytes:
    """One frame of at most `limit` bytes, all of it before `deadline`
    (time.monotonic): TimeoutError when it has not come by then, LinkError
    when it is too long, EOFError when the peer closes."""
    return _recv_exact(sock, frame_size(_recv_exact(sock, HEADER_SIZE, deadline), limit), deadline)


def frame_size(received: bytes | bytearray, limit: int) -> int:
    """The length of the frame whose first bytes are `received` (at least
    HEADER_SIZE of them); LinkError when it is over `limit`."""
    size: int = _HEADER.unpack_from(received)[0]
    if size > limit:
        raise LinkError(f"a frame of {size} bytes, over the limit of {limit}")
    return size


def _recv_exact(sock: socket.socket, size: int, deadline: float) -> bytes:
    chunks, missing = [], size
    while missing:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete frame in time")
        sock.settimeout(left)
        chunk = sock.recv(min(missing, READ_SIZE))
        if not chunk:
            raise EOFError("the peer closed the connection")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def handshake_as_worker(sock: socket.socket, key: bytes, deadline: float) -> None:
    """Prove the key to the sequencer, and have it prove the key back."""
    hello = recv_frame(sock, HANDSHAKE_FRAME, deadline)
    if not hello.startswith(HELLO) or len(hello) != len(HELLO) + CHALLENGE_BYTES:
        raise LinkError("not a Cairn sequencer")
    mine = os.urandom(CHALLENGE_BYTES)
    send_frame(sock, proof(key, b"worker", hello[len(HELLO) :]) + mine)
    if not hmac.compare_digest(recv_frame(sock, HANDSHAKE_FRAME, deadline), proof(key, b"sequencer", mine)):
        raise LinkError("the sequencer did not prove the socket key")


def handshake_as_sequencer(sock: socket.socket, key: bytes, deadline: float) -> None:
    """The sequencer's side of the handshake, blocking (a stand-in sequencer)."""
    challenge = os.urandom(CHALLENGE_BYTES)
    send_frame(sock, HELLO + challenge)
    sock.sendall(_answer(key, challenge, recv_frame(sock, HANDSHAKE_FRAME, deadline)))


def _answer(key: bytes, challenge: bytes, response: bytes) -> bytes:
    """The sequencer's last handshake frame for the worker's `response`; LinkError when it is wrong."""
    if len(response) != 2 * CHALLENGE_BYTES:
        raise LinkError("a handshake answer of the wrong length")
    if not hmac.compare_digest(response[:CHALLENGE_BYTES], proof(key, b"worker", challenge)):
        raise LinkError("the peer did not prove the socket key")
    return frame(proof(key, b"sequencer", response[CHALLENGE_BYTES:]))


# --- the sequencer's end: never blocks ---------------------------------------------


class State(Enum):
    HANDSHAKE = "handshake"  # waiting for the worker's answer to the challenge
    IDLE = "idle"  # authenticated; waiting for (or reading) a request
    BUSY = "busy"  # a request taken; its answer not yet written out


class Peer:
    """One worker's connection on the sequencer's side, on a non-blocking socket.

    `receive` reads what has arrived and returns a complete request, if one
    is; `answer` queues the reply and `flush` writes what the socket takes;
    `expired` says whether the connection overran its time. Any breach of
    the protocol raises LinkError (or OSError, EOFError from the socket):
    the caller then closes the connection.
    """

    def __init__(self, sock: socket.socket, key: bytes, *, limit: int, timeout: float, most: float) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.state = State.HANDSHAKE
        self._key = key
        self._limit = limit
        self._timeout = timeout
        self._most = max(most, timeout)
        self._challenge = os.urandom(CHALLENGE_BYTES)
        self._inbox = bytearray()
        self._outbox = memoryview(b"")
        # The moment by which the current step must be done (None: no limit,
        # idle), and the latest it may be moved to by `excuse`.
        self.deadline: float | None = None
        self._latest = 0.0
        self._start_step()
        self._queue(frame(HELLO + self._challenge))

    def _start_step(self) -> None:
        now = time.monotonic()
        self.deadline, self._latest = now + self._timeout, now + self._most

    def excuse(self, seconds: float) -> None:
        """Do not count `seconds` the sequencer spent on its own work (an
        append) against the step in progress: it read and wrote nothing of
        this connection's meanwhile. A step lasts `most` seconds at the
        most all the same, however busy the sequencer."""
        if self.deadline is not None:
            self.deadline = min(self.deadline + seconds, self._latest)

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def writing(self) -> bool:
        return bool(self._outbox)

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def receive(self) -> bytes | None:
        """Read what has arrived: the request it completes, if any."""
        data = self.sock.recv(READ_SIZE)
        if not data:
            raise EOFError("the worker closed the connection")
        if self.state is State.BUSY:
            raise LinkError("bytes before the answer to the previous request was taken")
        if not self._inbox and self.state is State.IDLE:
            self._start_step()  # a request's first byte: its time starts
        self._inbox += data
        message = self._complete_frame()
        if message is None:
            return None
        if self.state is State.HANDSHAKE:
            reply = _answer(self._key, self._challenge, message)
            self.state = State.IDLE
            self._queue(reply)  # its time is the handshake's, unless the socket takes it at once
            return None
        self.state = State.BUSY
        self.deadline = None  # the sequencer's own work has no limit here
        return message

    def _complete_frame(self) -> bytes | None:
        if len(self._inbox) < HEADER_SIZE:
            return None
        size = frame_size(self._inbox, HANDSHAKE_FRAME if self.state is State.HANDSHAKE else self._limit)
        end = HEADER_SIZE + size
        if len(self._inbox) < end:
            return None
        if len(self._inbox) > end:
            raise LinkError("more than one frame at once")
        message = bytes(self._inbox[HEADER_SIZE:end])
        self._inbox.clear()
        return message

    def answer(self, data: bytes) -> None:
        """Queue the answer to the request taken, and write what the socket takes now."""
        if self.state is not State.BUSY:
            raise LinkError("an answer with no request")
        self.state = State.IDLE
        self._start_step()
        self._queue(frame(data))

    def _queue(self, data: bytes) -> None:
        self._outbox = memoryview(bytes(self._outbox) + data)
        self.flush()

    def flush(self) -> None:
        """Write what the socket takes of the queued bytes."""
        try:
            sent = self.sock.send(self._outbox) if self._outbox else 0
        except BlockingIOError:
            sent = 0
        self._outbox = self._outbox[sent:]
        if not self._outbox and self.state is State.IDLE and not self._inbox:
            self.deadline = None

    def close(self) -> None:
        self.sock.close()
