"""Drills on the production run through its reverse proxy (bin/proxy's nginx
in front of gunicorn, the Procfile as written), PostgreSQL of the test's
own: slow clients, and health probes while the sequencer is stopped. Each
prints honest throughput and worst latency beside a baseline measured in
the same run without the fault, and ends with the drills' common checks
(every 201 logged, every statement landed, verify_ledger exits 0)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest

from tests.ops.stack import (
    Procfile,
    Tally,
    assert_every_answer_holds,
    load,
    make_suppliers,
    production_environment,
)

pytestmark = [pytest.mark.postgres, pytest.mark.drill]
CLIENTS = 4
POSTS = 40  # per client and phase
SLOW_CLIENTS = 16
PROBES = 20
HEALTH_DEADLINE = 2.0


@pytest.fixture
def production(tmp_path, ledger_db):
    env = production_environment(tmp_path / "var", ledger_db, "memory://", CAIRN_HEALTH_DEADLINE=HEALTH_DEADLINE)
    suppliers = make_suppliers(env, CLIENTS)
    run = Procfile(env, tmp_path / "honcho.log")
    try:
        run.wait_ready()
        yield run, env, suppliers
    finally:
        run.stop()


def phase(run: Procfile, suppliers, tag: str, during=None) -> tuple[Tally, list[bytes]]:
    clients = [(s.token, [s.origin(f"{tag}-{n}") for n in range(POSTS)]) for s in suppliers]
    tally = Tally()
    load(run.port, clients, tally, during=during)
    return tally, [body for _, bodies in clients for body in bodies]


def rate(tally: Tally) -> float:
    return (len(tally.created) + tally.reposts) / tally.seconds


def figures(name: str, what: str, baseline: Tally, attacked: Tally, extra: str) -> None:
    print(
        f"\nDRILL {name}: {what}\n"
        f"  baseline: {rate(baseline):.0f} posts/s, worst latency {baseline.longest:.2f} s\n"
        f"  under it: {rate(attacked):.0f} posts/s, worst latency {attacked.longest:.2f} s "
        f"(ratio {rate(attacked) / rate(baseline):.2f})\n  {attacked.summary()}\n  {extra}"
    )


@dataclass
class SlowClients:
    """Clients that send a POST's headers, then its body one byte a second."""

    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    connections: int = 0
    bytes_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def trickle(self) -> None:
        head = (
            b"POST /api/v1/attestations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n"
        )
        while not self.stop.is_set():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 5) as sock:
                sock.sendall(head)
                with self.lock:
                    self.connections += 1
                while not self.stop.wait(1.0):
                    sock.sendall(b" ")
                    with self.lock:
                        self.bytes_sent += 1

    def __enter__(self) -> SlowClients:
        self.threads = [threading.Thread(target=self.trickle, daemon=True) for _ in range(SLOW_CLIENTS)]
        for thread in self.threads:
            thread.start()
        time.sleep(1.0)  # every slow client connected and trickling
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


def test_slow_clients_hold_no_gunicorn_thread(production, ledger_db):
    run, env, suppliers = production
    baseline, first = phase(run, suppliers, "calm")
    with SlowClients(run.port) as slow:
        attacked, second = phase(run, suppliers, "slowloris")
        connected = slow.connections
    figures(
        "slowloris through the proxy",
        f"{SLOW_CLIENTS} clients sending POST bodies at one byte a second while {CLIENTS} honest clients post",
        baseline,
        attacked,
        f"slow connections held: {connected}, bytes trickled: {slow.bytes_sent}",
    )
    assert connected >= SLOW_CLIENTS
    assert len(attacked.created) + attacked.reposts >= CLIENTS * POSTS
    assert attacked.longest < 5.0, f"an honest post waited {attacked.longest:.1f} s"
    assert_every_answer_holds(ledger_db, env, attacked, first + second)


def probe(port: int) -> tuple[float, int, dict]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", "/health", headers={"Accept": "application/json"})
        response = conn.getresponse()
        return time.monotonic() - started, response.status, json.loads(response.read())
    finally:
        conn.close()


def test_health_probes_of_a_stopped_sequencer_take_no_service_down(production, ledger_db):
    """Three phases: calm; run_sequencer stopped (appends wait for it, then
    go on without it); stopped with 20 load balancers polling /health twice
    a second each. The last two's ratio is what the probes cost."""
    run, env, suppliers = production
    calm, first = phase(run, suppliers, "calm")
    sequencer = run.sequencer_pid()
    assert sequencer
    answers: list[tuple[float, int, dict]] = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            answers.append(probe(run.port))
            stop.wait(0.5)

    os.kill(sequencer, signal.SIGSTOP)
    pollers = [threading.Thread(target=poll, daemon=True) for _ in range(PROBES)]
    try:
        stopped, second = phase(run, suppliers, "stopped")
        for thread in pollers:
            thread.start()
        probed, third = phase(run, suppliers, "probed")
    finally:
        stop.set()
        for thread in pollers:
            thread.join(20)
        os.kill(sequencer, signal.SIGCONT)
    worst = max(waited for waited, _, _ in answers)
    figures(
        "health probes, sequencer stopped",
        f"run_sequencer SIGSTOPped, then {PROBES} clients polling /health twice a second while {CLIENTS} post",
        stopped,
        probed,
        f"calm: {rate(calm):.0f} posts/s, worst {calm.longest:.2f} s; "
        f"probes answered: {len(answers)}, worst probe {worst:.2f} s (deadline {HEALTH_DEADLINE:g} s)",
    )
    # A probe answers by its deadline once a gunicorn thread takes it; it may
    # first queue behind appends waiting CAIRN_SEQUENCER_TIMEOUT (3 s) and
    # other probes: bounded all the same, far from a hang.
    assert worst < 10.0, f"a probe waited {worst:.1f} s"
    assert all(status == 500 for _, status, _ in answers)
    assert all(body["Sequencer()"] != "OK" for _, _, body in answers)
    assert len(probed.created) + probed.reposts >= CLIENTS * POSTS
    assert probed.longest < 10.0, f"an append waited {probed.longest:.1f} s"
    assert_every_answer_holds(ledger_db, env, probed, first + second + third)
