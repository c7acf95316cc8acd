"""The production run: the Procfile's processes, started by honcho exactly as
written, against PostgreSQL and Redis.

A chain from mine to vehicle is posted through gunicorn (appended by the
run_sequencer process), beat has the worker publish a checkpoint of it, and
SIGTERM stops every process. A killed run_sequencer comes back by itself.
"""

from __future__ import annotations

import http.client
import os
import signal
import time

import pytest
import yaml
from django.conf import settings
from django.db import connection

from tests.ops.stack import ROOT, Procfile, database_url, needs_services, post, production_environment, wait_until
from tests.support import Ledger, assert_log_intact, other_sessions, sign_payload

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
VIN = "1HGCM82633A004352"


def test_the_procfile_names_every_process_and_compose_its_services():
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line and not line.startswith("#")]
    names = {line.split(":", 1)[0]: line.split(":", 1)[1] for line in lines}
    assert set(names) == {"proxy", "web", "sequencer", "worker", "beat"}
    assert names["proxy"].strip() == "bin/proxy"
    assert "gunicorn -c config/gunicorn.py config.wsgi" in names["web"]
    for name in ("sequencer", "worker", "beat"):
        assert names[name].strip().startswith("bin/respawn "), name
    assert "celery -A config worker" in names["worker"] and "celery -A config beat" in names["beat"]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert set(compose["services"]) == {"postgres", "redis", "proxy"}
    assert "./deploy/nginx/cairn.conf:/etc/cairn/cairn.conf:ro" in compose["services"]["proxy"]["volumes"]
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    assert compose["services"]["redis"]["image"].startswith("redis:")


class HttpChain:
    """A supplier's client: signs statements and posts them through gunicorn."""

    def __init__(self, port: int) -> None:
        self.port, self.ledger, self.heads = port, Ledger(), {}

    def post(self, party, payload: dict) -> dict:
        status, body = post(self.port, party.token, sign_payload(payload, party))
        assert status == 201, body
        return body

    def append(self, party, kind: str, touches: list[str], **fields) -> dict:
        receipt = self.post(party, self.ledger.statement(kind, party, **fields))
        for batch in touches:
            self.heads[batch] = receipt["entry_hash"]
        return receipt

    def transform(self, party, source: str, quantity: str, output: dict, activity: str) -> str:
        batch = f"{party.slug}:{output.pop('name')}"
        self.append(
            party,
            "transform",
            [source, batch],
            activity=activity,
            site={"name": "plant", "country": "US"},
            inputs=[{"batch": source, "prev": self.heads[source], "quantity": quantity}],
            outputs=[{"batch": batch, "value_added_usd": "100", **output}],
        )
        return batch

    def mine_to_claim(self, miner, refiner, maker, vin: str) -> int:
        ore = f"{miner.slug}:ore"
        receipt = self.post(miner, self.ledger.origin_statement(miner, batch=ore))
        self.heads[ore] = receipt["entry_hash"]
        self.append(miner, "transfer", [ore], batch=ore, prev=self.heads[ore], to=refiner.slug)
        hydroxide = self.transform(
            refiner,
            ore,
            "1000",
            {"name": "hydroxide", "material": "lithium hydroxide", "quantity": "100", "unit": "kg"},
            "processing",
        )
        self.append(refiner, "transfer", [hydroxide], batch=hydroxide, prev=self.heads[hydroxide], to=maker.slug)
        pack = self.transform(
            maker,
            hydroxide,
            "100",
            {"name": "pack", "material": "battery pack", "quantity": "1", "unit": "unit", "component": "battery_pack"},
            "assembly",
        )
        receipt = self.append(
            maker,
            "claim",
            [pack],
            batch=pack,
            prev=self.heads[pack],
            quantity="1",
            vin=vin,
            acquired="2024-06-01",
            placed_in_service="2024-06-15",
            final_assembly={"name": "Assembly plant", "country": "US"},
        )
        # The log's size: the six attestations follow the ledger's own entries (contract §12).
        return receipt["index"] + 1


def checkpoint_size(port: int) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/api/v1/log/checkpoint")
    response = conn.getresponse()
    text = response.read().decode()
    return int(text.splitlines()[1]) if response.status == 200 else None


def health(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/health?format=json")
    response = conn.getresponse()
    response.read()
    return response.status


def test_the_procfile_runs_cairn_and_stops_cleanly(tmp_path, miner, refiner, maker):
    needs_services()
    env = production_environment(
        tmp_path / "var",
        database_url(connection.settings_dict),
        settings.CELERY_BROKER_URL,
        CAIRN_CHECKPOINT_EVERY_SECONDS=1,
    )
    sessions_before = other_sessions()  # this process's own, e.g. a sequencer thread's
    run = Procfile(env, tmp_path / "honcho.log")
    try:
        run.wait_ready()
        assert len(run.gunicorn_workers()) == 2
        size = HttpChain(run.port).mine_to_claim(miner, refiner, maker, VIN)
        assert_log_intact()
        # beat asks, the worker signs: a checkpoint of the whole chain
        wait_until(lambda: checkpoint_size(run.port) == size, "beat's checkpoint of the chain", 60)
        # what a load balancer asks: database, broker, sequencer, ledger key, checkpoint age
        assert health(run.port) == 200

        # a killed run_sequencer is started again by its Procfile line
        killed = run.sequencer_pid()
        os.kill(killed, signal.SIGKILL)
        started = time.monotonic()
        wait_until(lambda: run.sequencer_pid() not in (None, killed) and run.sequencer_listens(), "a new sequencer")
        print(f"run_sequencer killed with -9 was serving again after {time.monotonic() - started:.1f} s")

        seconds = run.stop()
        print(f"all four processes stopped {seconds:.1f} s after SIGTERM")
    finally:
        if run.process.poll() is None:
            run.kill()
    output = run.output()
    for name in ("web", "sequencer", "worker", "beat"):
        assert f"{name}.1" in output, output[-2000:]
    assert not run.socket.exists(), "run_sequencer left its socket behind"
    wait_until(lambda: other_sessions() <= sessions_before, "the processes' database sessions to end", 15)
