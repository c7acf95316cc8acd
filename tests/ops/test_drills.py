"""Fault drills on the production run (the Procfile under honcho) with a
PostgreSQL cluster of the test's own: a bounded load of signed posts from
several client threads while a fault strikes.

After each drill: every 201 the clients got is in the log at its index with
its entry_hash, the indexes are contiguous with no duplicate, every posted
statement landed (clients post again after a closed connection or a 5xx, as
a client should), verify_ledger exits 0, the service answers again with no
manual step, and every refusal was the contract's error body or a closed
connection, never a wait beyond CLIENT_TIMEOUT. Each prints its figures.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.ops.stack import (
    CLIENTS,
    Procfile,
    RedisServer,
    Tally,
    finish,
    load,
    post,
    query,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.drill]
POSTS = 75  # per client: 300 signed posts a drill
PAUSE = 0.02


def bodies_for(suppliers, tag: str):
    return [(s.token, [s.origin(f"{tag}-{n}") for n in range(POSTS)]) for s in suppliers]


def after_a_share(tally: Tally, share: float = 0.25) -> None:
    wait_until(lambda: tally.sent >= CLIENTS * POSTS * share, "the load to be under way", 60, 0.01)


def answers_again(run: Procfile, suppliers, tag: str) -> float:
    """Seconds until a new statement from each supplier is answered 201."""
    started = time.monotonic()
    for supplier in suppliers:

        def lands(supplier=supplier):
            status, _ = post(run.port, supplier.token, supplier.origin(f"{tag}-after"))
            return status in (200, 201)

        wait_until(lands, "the service to answer again", 60, 0.2)
    return time.monotonic() - started


def test_run_sequencer_killed_with_sigkill(stack, ledger_db):
    env, suppliers, run = stack()
    clients, tally, figures = bodies_for(suppliers, "seq"), Tally(), {}

    def kill_the_sequencer():
        after_a_share(tally)
        killed = run.sequencer_pid()
        os.kill(killed, signal.SIGKILL)
        struck = time.monotonic()
        wait_until(lambda: run.sequencer_pid() not in (None, killed) and run.sequencer_listens(), "a new sequencer")
        figures["new run_sequencer listening after"] = f"{time.monotonic() - struck:.1f} s"

    load(run.port, clients, tally, during=kill_the_sequencer, pause=PAUSE)
    figures["new statements answered 201 after"] = f"{answers_again(run, suppliers, 'seq'):.1f} s"
    finish(
        "run_sequencer -9",
        "killed mid-load; its Procfile line restarts it",
        run,
        env,
        ledger_db,
        tally,
        clients,
        figures,
    )


def test_a_gunicorn_worker_killed_with_sigkill(stack, ledger_db):
    env, suppliers, run = stack()
    clients, tally, figures = bodies_for(suppliers, "web"), Tally(), {}

    def kill_a_worker():
        after_a_share(tally)
        before = run.gunicorn_workers()
        os.kill(before[0], signal.SIGKILL)
        struck = time.monotonic()
        wait_until(
            lambda: len(set(run.gunicorn_workers()) - set(before)) == 1 and len(run.gunicorn_workers()) == 2,
            "gunicorn to start a new worker",
        )
        figures["gunicorn back to 2 workers after"] = f"{time.monotonic() - struck:.1f} s"

    load(run.port, clients, tally, during=kill_a_worker, pause=PAUSE)
    figures["new statements answered 201 after"] = f"{answers_again(run, suppliers, 'web'):.1f} s"
    finish("gunicorn worker -9", "one of two workers killed mid-load", run, env, ledger_db, tally, clients, figures)


def test_postgresql_restarted(stack, ledger_db, cluster):
    env, suppliers, run = stack()
    clients, tally, figures = bodies_for(suppliers, "pg"), Tally(), {}

    def restart_postgres():
        after_a_share(tally)
        struck = time.monotonic()
        cluster.restart()  # immediate: every connection is cut mid-transaction
        figures["PostgreSQL back after"] = f"{time.monotonic() - struck:.1f} s"

        def lands():
            status, _ = post(run.port, suppliers[0].token, suppliers[0].origin(f"pg-probe-{time.monotonic_ns()}"))
            return status == 201

        wait_until(lands, "a post to land after the restart", 60, 0.2)
        figures["first 201 after the restart"] = f"{time.monotonic() - struck:.1f} s"

    load(run.port, clients, tally, during=restart_postgres, pause=PAUSE)
    figures["new statements answered 201 after"] = f"{answers_again(run, suppliers, 'pg'):.1f} s"
    finish("PostgreSQL restart", "pg_ctl restart -m immediate mid-load", run, env, ledger_db, tally, clients, figures)


def test_the_broker_down_while_integrity_checks_are_due(stack, ledger_db, tmp_path):
    broker = RedisServer(tmp_path / "redis")
    try:
        env, suppliers, run = stack(broker.url(0), CAIRN_INCREMENTAL_CHECK_EVERY_SECONDS=2)
        clients, tally, figures = bodies_for(suppliers, "broker"), Tally(), {}

        def broker_down():
            after_a_share(tally)
            broker.stop()
            down = time.monotonic()
            sent_before = len(tally.created)
            time.sleep(5)  # checks and checkpoints fall due meanwhile
            figures["201s while the broker was down"] = len(tally.created) - sent_before
            (back_at,) = query(ledger_db, "SELECT now()")[0]
            broker.start()
            restarted = time.monotonic()

            def checked_again():
                rows = query(
                    ledger_db,
                    "SELECT count(*) FROM audit_integritycheckrun WHERE kind = 'incremental' "
                    "AND finished_at IS NOT NULL AND started_at > %s",
                    (back_at,),
                )
                return rows[0][0] > 0

            wait_until(checked_again, "an incremental check after the broker came back", 90, 0.5)
            figures["broker down for"] = f"{restarted - down:.1f} s"
            figures["incremental check finished after the broker came back"] = f"{time.monotonic() - restarted:.1f} s"

        load(run.port, clients, tally, during=broker_down, pause=PAUSE)
        figures["new statements answered 201 after"] = f"{answers_again(run, suppliers, 'broker'):.1f} s"
        size = query(ledger_db, "SELECT count(*) FROM provenance_entry")[0][0]

        def checkpointed():
            return query(ledger_db, "SELECT max(tree_size) FROM provenance_checkpoint")[0][0] == size

        wait_until(checkpointed, "beat's checkpoint of every entry", 60, 0.5)
        finish(
            "broker down",
            "Redis (the broker) stopped for 5 s mid-load, checks due every 1-2 s",
            run,
            env,
            ledger_db,
            tally,
            clients,
            figures,
        )
    finally:
        broker.stop()
