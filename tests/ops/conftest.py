"""Fixtures for the production run, drills, backups and fuzzing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops.stack import (
    CLIENTS,
    Procfile,
    make_suppliers,
    production_environment,
    query,
)


@pytest.fixture(autouse=True)
def ledger_key_dir(settings, tmp_path_factory):
    """A development ledger key outside the repository, one per test session,
    shared with the processes the tests start."""
    settings.CAIRN_DEV_KEY_DIR = tmp_path_factory.getbasetemp() / "ledger-key"
    settings.LEDGER_SIGNING_KEY = ""
    settings.LEDGER_ORIGIN = "cairn.test/ledger"
    return settings.CAIRN_DEV_KEY_DIR


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A PostgreSQL cluster of the tests' own (initdb, pg_ctl), on a free port,
    with a migrated template database `ledger_template`."""
    import shutil

    from django.db import connection

    from tests.ops.stack import PostgresCluster, manage, production_environment

    if connection.vendor != "postgresql":
        pytest.skip("drills run on PostgreSQL")
    if not (shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))):
        pytest.skip("initdb is not installed")
    import tempfile

    base = tmp_path_factory.mktemp("cluster")
    # Outside pytest's 0700 temporary tree: the server runs as `postgres`.
    data = Path(tempfile.mkdtemp(prefix="cairn-pg-"))
    data.chmod(0o755)
    server = PostgresCluster(data / "pg")
    try:
        query(server.url(), "CREATE DATABASE ledger_template")
        env = production_environment(base / "var", server.url("ledger_template"), "memory://")
        result = manage(env, "migrate", "--no-input", "-v0")
        assert result.returncode == 0, result.stderr
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def ledger_db(cluster, request):
    """A fresh ledger database copied from the cluster's template; its URL."""

    name = "ledger_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:40]
    query(cluster.url(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    query(cluster.url(), f'CREATE DATABASE "{name}" TEMPLATE ledger_template')
    return cluster.url(name)


@pytest.fixture
def stack(tmp_path, ledger_db):
    runs = []

    def started(broker: str = "memory://", **extra):
        """The Procfile running on `ledger_db` with CLIENTS suppliers; always stopped after the test."""
        env = production_environment(tmp_path / "var", ledger_db, broker, CAIRN_CHECKPOINT_EVERY_SECONDS=1, **extra)
        suppliers = make_suppliers(env, CLIENTS)
        run = Procfile(env, tmp_path / "honcho.log")
        runs.append(run)
        run.wait_ready()
        return env, suppliers, run

    yield started
    for run in runs:
        if run.process.poll() is None:
            run.kill()
