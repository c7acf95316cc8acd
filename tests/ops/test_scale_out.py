"""Scale-out drill: two application hosts on one PostgreSQL.

Each host is its own gunicorn and its own run_sequencer with a socket
directory of its own, as two machines behind a load balancer would be; they
share only the database. A bounded load of single posts and batches goes
first to one host, then to both at once, while pairs of transforms race for
the same batch head from the two hosts. After it: every acknowledged entry
is in the log at its index, the indexes are contiguous with no duplicate,
no batch head was taken twice (exactly one transform of each racing pair
landed, the other was refused `stale_head`), and verify_ledger exits 0. It
prints the combined rate beside one host's (on a 2-core machine, two hosts
share the same cores: the point is correctness, the rate is reported).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.ops.stack import (
    BIN,
    ROOT,
    Tally,
    assert_every_answer_holds,
    free_port,
    load,
    make_suppliers,
    post,
    production_environment,
    query,
    record,
    socket_dir,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.drill]
SUPPLIERS = 4
SINGLES = 40  # per supplier and phase
BATCHES, BATCH_SIZE = 3, 25  # per supplier and phase
RACES = 12


class Host:
    """One application host: gunicorn and run_sequencer, sharing nothing but the database."""

    def __init__(self, env: dict, name: str, log_dir: Path) -> None:
        self.socket = socket_dir() / "sequencer.sock"
        self.env = {**env, "CAIRN_SEQUENCER_SOCKET": str(self.socket)}
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed by stop()
        bind = f"127.0.0.1:{self.port}"
        commands = [
            [str(BIN / "python"), "manage.py", "run_sequencer"],
            [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "-b", bind, "config.wsgi"],
        ]
        self.processes = [
            subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
            )
            for command in commands
        ]

    def wait_ready(self) -> None:
        def ready() -> bool:
            for process in self.processes:
                if process.poll() is not None:
                    raise AssertionError(f"a process of the host exited:\n{self.log_path.read_text()[-3000:]}")
            status, _ = post(self.port, "no-token", b"{}", path="/api/v1/log/key")
            return status is not None and self.socket.exists()

        wait_until(ready, "the host to answer", 90, 0.2)

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    import os

                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.socket.parent, ignore_errors=True)


@pytest.fixture
def hosts(tmp_path, ledger_db):
    env = production_environment(tmp_path / "var", ledger_db, "memory://", CAIRN_THROTTLE_RATE="100000/min")
    started: list[Host] = []
    try:
        started += [Host(env, "host-a", tmp_path), Host(env, "host-b", tmp_path)]
        for host in started:
            host.wait_ready()
        yield env, started
    finally:
        for host in started:
            host.stop()


def post_batches(port: int, token: str, batches: list[list[bytes]], tally: Tally) -> None:
    """Each batch in turn (contract §9); each envelope's result is tallied as a single post's."""
    for bodies in batches:
        body = b'{"envelopes": [' + b",".join(bodies) + b"]}"
        started = time.monotonic()
        status, answer = post(port, token, body, path="/api/v1/attestations/batch")
        waited = time.monotonic() - started
        if status != 200:
            record(tally, status, answer, waited)
            continue
        for result in answer["results"]:
            record(tally, result["status"], result.get("entry") or {"error": result.get("error")}, waited)


def run_phase(ports: list[int], suppliers, tag: str) -> tuple[Tally, list[bytes]]:
    """Singles and batches from every supplier, spread over `ports`; returns
    the tally and every body sent."""
    tally, sent = Tally(), []
    workers = []
    for number, supplier in enumerate(suppliers):
        port = ports[number % len(ports)]
        singles = [supplier.origin(f"{tag}-single-{n}") for n in range(SINGLES)]
        batches = [[supplier.origin(f"{tag}-batch-{b}-{n}") for n in range(BATCH_SIZE)] for b in range(BATCHES)]
        sent += singles + [body for batch in batches for body in batch]
        workers.append(threading.Thread(target=load, args=(port, [(supplier.token, singles)], tally)))
        workers.append(threading.Thread(target=post_batches, args=(port, supplier.token, batches, tally)))
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    tally.seconds = time.monotonic() - started
    assert not any(worker.is_alive() for worker in workers), "a client never finished"
    return tally, sent


def transform(supplier, source: str, prev: str, output: str) -> bytes:
    """A processing transform consuming `source` at head `prev` into `output`."""
    payload = supplier.origin_payload("unused")
    payload.update(
        {
            "type": "transform",
            "activity": "processing",
            "site": {"name": "Kwinana", "country": "AU"},
            "inputs": [{"batch": source, "prev": prev, "quantity": "1000"}],
        }
    )
    payload["outputs"][0].update({"batch": f"{supplier.slug}:{output}", "material": "lithium hydroxide"})
    del payload["outputs"][0]["minerals"]
    return json.dumps(supplier.envelope(json.dumps(payload).encode())).encode()


def race_for_heads(hosts: list[Host], supplier) -> tuple[list[tuple[int, int]], list[bytes], Tally]:
    """RACES pairs of transforms of one head, one posted to each host at the same instant."""
    tally, sent, outcomes = Tally(), [], []
    for number in range(RACES):
        origin = supplier.origin(f"race-{number}")
        status, answer = post(hosts[0].port, supplier.token, origin)
        assert status == 201, answer
        record(tally, status, answer, 0.0)
        sent.append(origin)
        source = f"{supplier.slug}:race-{number}"
        bodies = [transform(supplier, source, answer["entry_hash"], f"race-{number}-{side}") for side in "ab"]
        answers: list[tuple[int, object]] = [(0, None), (0, None)]
        gate = threading.Barrier(2)

        def send(side: int, bodies=bodies, answers=answers, gate=gate) -> None:
            gate.wait()
            answers[side] = post(hosts[side].port, supplier.token, bodies[side])

        threads = [threading.Thread(target=send, args=(side,)) for side in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for (status, answer), body in zip(answers, bodies, strict=True):
            if status == 201:
                record(tally, status, answer, 0.0)
                sent.append(body)
        outcomes.append(tuple(sorted(status for status, _ in answers)))
        codes = sorted(a["error"]["code"] for s, a in answers if s != 201)
        assert codes == ["stale_head"], answers
    return outcomes, sent, tally


def test_two_hosts_on_one_database_neither_fork_nor_lose_an_entry(hosts, ledger_db):
    env, (a, b) = hosts
    suppliers = make_suppliers(env, SUPPLIERS)

    alone, alone_sent = run_phase([a.port], suppliers, "alone")
    both, both_sent = run_phase([a.port, b.port], suppliers, "both")
    outcomes, raced, race_tally = race_for_heads([a, b], suppliers[0])

    assert outcomes == [(201, 409)] * RACES  # exactly one transform of each head landed
    for tally in (alone, both):
        assert not tally.errors, tally.summary()  # singles and batches all landed, first time
    combined = Tally()
    for tally in (alone, both, race_tally):
        combined.created.update(tally.created)
        combined.bad += tally.bad
    assert_every_answer_holds(ledger_db, env, combined, alone_sent + both_sent + raced)
    sequenced = query(ledger_db, "SELECT count(*) FROM provenance_entry WHERE type = 'transform'")[0][0]
    assert sequenced == RACES

    one, two = len(alone.created) / alone.seconds, len(both.created) / both.seconds
    print(
        f"\nDRILL scale-out: two hosts (gunicorn + run_sequencer each) on one PostgreSQL\n"
        f"  one host:  {len(alone.created)} entries in {alone.seconds:.1f} s = {one:,.0f} entries/s\n"
        f"  two hosts: {len(both.created)} entries in {both.seconds:.1f} s = {two:,.0f} entries/s "
        f"({two / one:.2f}x one host's)\n"
        f"  head races: {RACES} pairs across the hosts, each one 201 and one 409 stale_head; "
        f"longest wait {max(alone.longest, both.longest):.1f} s"
    )
