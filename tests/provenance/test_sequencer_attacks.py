"""Peers of the sequencer socket that are not honest web workers.

A local client that connects and stays silent, or one holding the socket
key that trickles bytes or sends a huge frame header: none may delay
honest appends or stop the sequencer. The server runs on a thread of the test process.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest

from provenance import ingest, sequencer_link, sequencer_socket
from provenance.models import Entry, EntryType
from tests.provenance.test_sequencer_socket import origin_body, served, socket_path  # noqa: F401 - fixtures
from tests.support import Ledger

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
    sequencer_link.handshake_as_worker(sock, sequencer_socket.authkey(), time.monotonic() + 5)
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
    assert ingest.append_attestation(origin_body(ledger, party, name), acting_org=party.org).status == 201
    return time.monotonic() - started


def test_a_silent_client_does_not_delay_honest_appends(served, quick, socket_path, miner):  # noqa: F811
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


def test_a_trickler_is_dropped_and_delays_no_one(served, quick, socket_path, miner):  # noqa: F811
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


def test_a_huge_frame_header_is_refused_and_the_server_serves_on(served, socket_path, miner):  # noqa: F811
    peer = authenticated(socket_path)
    peer.sendall(b"\xff\xff\xff\xff" + b"\xff" * 8)  # a 4 GiB frame (and what an 8-byte length would claim)
    assert closed_by_server(peer, within=2)
    peer.close()
    assert timed_append(Ledger(), miner, "after-huge") < 0.5
    assert served == [1]


def test_a_frame_over_the_limit_is_refused_from_its_header(served, socket_path, settings):  # noqa: F811
    peer = authenticated(socket_path)
    peer.sendall(struct.pack(">I", sequencer_socket.frame_limit() + 1))
    assert closed_by_server(peer, within=2)
    peer.close()


def test_a_peer_without_the_key_is_refused(served, socket_path):  # noqa: F811
    peer = connected(socket_path)
    with pytest.raises((sequencer_link.LinkError, EOFError, ConnectionResetError)):
        sequencer_link.handshake_as_worker(peer, b"not the socket key", time.monotonic() + 5)
    peer.close()
