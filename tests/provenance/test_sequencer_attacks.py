"""Peers of the sequencer socket that are not honest web workers.

A local client that connects and stays silent, or one holding the socket
key that trickles bytes, sends a huge frame header, or hands over
statements with signatures it claims were checked: none may delay honest
appends, stop the sequencer, or have anything logged that the web path
would refuse. The server runs on a thread of the test process.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import struct
import time

import pytest
from django.utils import timezone

from cairn_core import dsse
from provenance.append import checks, handshake, process, wire
from provenance.models import Entry, EntryType
from tests.support import Ledger, origin_body

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def quick(settings):
    """Peers get one second for each step (the handshake, a frame, an answer)."""
    settings.CAIRN_SEQUENCER_TIMEOUT = 1.0


def attestations():
    return Entry.objects.exclude(type=EntryType.LEDGER)


def connected(path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    return sock


def authenticated(path) -> socket.socket:
    """A connection that proved the socket key, as a peer holding SECRET_KEY can."""
    sock = connected(path)
    handshake.handshake_as_worker(sock, process.authkey(), time.monotonic() + 5)
    return sock


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Does the server close `sock` within `within` seconds (whatever it sent first)?"""
    sock.settimeout(within)
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            if not sock.recv(4096):
                return True
    except (TimeoutError, ConnectionResetError):
        return False
    return False


def timed_append(ledger, party, name) -> float:
    started = time.monotonic()
    assert checks.append_attestation(origin_body(ledger, party, name), acting_org=party.org).status == 201
    return time.monotonic() - started


def test_a_silent_client_does_not_delay_honest_appends(served, quick, socket_path, miner):
    ledger = Ledger()
    timed_append(ledger, miner, "warm")
    silent = [connected(socket_path) for _ in range(4)]
    time.sleep(0.1)  # they are accepted, and say nothing
    waits = [timed_append(ledger, miner, f"beside-silent-{n}") for n in range(5)]
    assert max(waits) < 0.5, waits
    assert served == [1] * 6  # every append went through the server, none fell back
    assert all(closed_by_server(sock, within=2) for sock in silent)  # dropped once their second is up
    for sock in silent:
        sock.close()


def test_a_trickler_is_dropped_and_delays_no_one(served, quick, socket_path, miner):
    ledger = Ledger()
    timed_append(ledger, miner, "warm")
    trickler = authenticated(socket_path)
    trickler.sendall(struct.pack(">I", 1000))  # a frame of 1,000 bytes, sent one byte at a time
    started, waits, dropped = time.monotonic(), [], None
    for n in range(12):
        try:
            trickler.send(b"[")
        except OSError:
            dropped = time.monotonic() - started
            break
        waits.append(timed_append(ledger, miner, f"beside-trickle-{n}"))
        time.sleep(0.15)
    assert dropped is not None and dropped < 2, "the trickler was not dropped within its time"
    assert max(waits) < 0.5, waits
    assert served == [1] * (1 + len(waits))
    trickler.close()


def test_a_frame_is_not_timed_while_the_sequencer_appends(served, quick, socket_path, miner, monkeypatch):
    """An honest request of a megabyte crosses the socket's buffer in several
    reads, with others' batches appended between them: the time those
    appends take is not the sender's (handshake.Peer.excuse)."""
    slow_append = checks.append_batch

    def appending_for_long(items):
        time.sleep(1.5)  # longer than the peer's 1 s for a frame
        return slow_append(items)

    ledger = Ledger()
    body = request(envelope_of(ledger, miner, "halves"), miner)
    peer = authenticated(socket_path)
    peer.sendall(struct.pack(">I", len(body)) + body[:100])
    time.sleep(0.2)  # the sequencer has read the first half: its frame's time runs
    monkeypatch.setattr(checks, "append_batch", appending_for_long)
    started = time.monotonic()
    (slow,) = exchange(socket_path, request(envelope_of(ledger, miner, "slow"), miner))
    assert slow.created and time.monotonic() - started >= 1.5
    peer.sendall(body[100:])  # 1.7 s after the frame began, 0.2 s of it the sender's
    (outcome,) = wire.decode_answer(handshake.recv_frame(peer, 1 << 20, time.monotonic() + 10))
    peer.close()
    assert outcome.created, outcome
    assert attestations().count() == 2


def test_a_huge_frame_header_is_refused_and_the_server_serves_on(served, socket_path, miner):
    peer = authenticated(socket_path)
    peer.sendall(b"\xff\xff\xff\xff" + b"\xff" * 8)  # a 4 GiB frame (and what an 8-byte length would claim)
    assert closed_by_server(peer, within=2)
    peer.close()
    assert timed_append(Ledger(), miner, "after-huge") < 0.5
    assert served == [1]


def test_a_frame_over_the_limit_is_refused_from_its_header(served, socket_path, settings):
    peer = authenticated(socket_path)
    peer.sendall(struct.pack(">I", process.frame_limit() + 1))
    assert closed_by_server(peer, within=2)
    peer.close()


def test_a_peer_without_the_key_is_refused(served, socket_path):
    peer = connected(socket_path)
    with pytest.raises((handshake.LinkError, EOFError, ConnectionResetError)):
        handshake.handshake_as_worker(peer, b"not the socket key", time.monotonic() + 5)
    peer.close()


def envelope_of(ledger, party, name) -> dict:
    return json.loads(origin_body(ledger, party, name))


def with_signature(envelope: dict, signature: bytes) -> dict:
    signatures = [{**envelope["signatures"][0], "sig": base64.b64encode(signature).decode()}]
    return {**envelope, "signatures": signatures}


def request(envelope: dict, party, *, now: dt.datetime | None = None) -> bytes:
    """A request as a worker sends it, claiming (in the form the wire once
    had) that the envelope's signature was checked and verifies."""
    stored = json.dumps(envelope, separators=(",", ":"), sort_keys=True)
    public_key = dsse.raw_public_key(party.private_key).hex()
    document = {
        "envelope": stored,
        "caller": [party.org.slug, list(party.org.roles), None, None],
        "now": (now or timezone.now()).isoformat(),
        "verified": [[envelope["signatures"][0]["keyid"], public_key, True]],
    }
    return json.dumps([document]).encode()


def exchange(path, message: bytes) -> list:
    peer = authenticated(path)
    try:
        handshake.send_frame(peer, message)
        answer = handshake.recv_frame(peer, 1 << 20, time.monotonic() + 10)
    finally:
        peer.close()
    return wire.decode_answer(answer)


def test_a_signature_claimed_checked_is_checked_again(served, socket_path, miner):
    forged = with_signature(envelope_of(Ledger(), miner, "forged"), b"\x00" * 64)
    (outcome,) = exchange(socket_path, request(forged, miner))
    assert getattr(outcome, "code", None) == "bad_signature", outcome
    assert not attestations().exists()


def test_a_signature_over_another_statement_is_refused(served, socket_path, miner):
    """A genuine signature by the key it names, of another statement."""
    ledger = Ledger()
    genuine = base64.b64decode(envelope_of(ledger, miner, "signed")["signatures"][0]["sig"])
    forged = with_signature(envelope_of(ledger, miner, "not-signed"), genuine)
    (outcome,) = exchange(socket_path, request(forged, miner))
    assert getattr(outcome, "code", None) == "bad_signature", outcome
    assert not attestations().exists()


def test_an_honest_request_by_hand_is_logged(served, socket_path, miner):
    """The same path with the envelope as signed: the checks above refuse the forgery, not the form."""
    (outcome,) = exchange(socket_path, request(envelope_of(Ledger(), miner, "by-hand"), miner))
    assert outcome.created, outcome
    assert attestations().count() == 1


def test_a_backdated_moment_is_refused(served, socket_path, miner):
    """A key's validity and the issued_at window are judged at the request's
    moment: one the sequencer did not live through is not taken."""
    past = timezone.now() - dt.timedelta(days=1)
    with pytest.raises((EOFError, ConnectionResetError)):
        exchange(socket_path, request(envelope_of(Ledger(), miner, "backdated"), miner, now=past))
    assert not attestations().exists()


def test_a_deeply_nested_request_is_dropped_and_the_server_serves_on(served, socket_path, miner):
    peer = authenticated(socket_path)
    handshake.send_frame(peer, b"[" * 100_000 + b"]" * 100_000)
    assert closed_by_server(peer, within=2)
    peer.close()
    assert timed_append(Ledger(), miner, "after-nesting") < 0.5
    assert served == [1]
