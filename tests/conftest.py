"""Personas, defined once: two suppliers, a manufacturer, a certifier, an auditor."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from audit import checks as integrity_checks
from audit.engine import verify_claim
from audit.models import IntegrityIncident
from config.celery import app
from provenance import checkpoints
from provenance.append import checks, process
from provenance.append.process import Server
from provenance.models import Entry
from tests.support import (
    TAMPERED_OTHER,
    TAMPERED_VIN,
    Ledger,
    claim,
    macr_cells,
    make_party,
    raise_value,
    simple_chain,
    tamper_envelope,
)


@pytest.fixture(autouse=True)
def no_append_idle_timeout(settings):
    """The append's idle timeout (PostgreSQL) is local to its transaction, which in
    a test is the whole test (pytest-django's): a test that appends and then takes
    longer than it between queries (a PDF, a slow host) would lose its connection,
    as separate requests never do. Off in this process; tests/hardening/test_stalls.py
    sets it to test it, and the servers the drills start keep the default."""
    settings.CAIRN_APPEND_IDLE_TIMEOUT = 0


@pytest.fixture
def miner(db):
    return make_party("pilbara-mining", ["supplier"], country="AU", name="Pilbara Mining")


@pytest.fixture
def refiner(db):
    return make_party("kansai-refining", ["supplier"], country="JP", name="Kansai Refining")


@pytest.fixture
def stranger(db):
    """A second supplier who must not see the first's data."""
    return make_party("other-supplier", ["supplier"], country="CL", name="Other Supplier")


@pytest.fixture
def maker(db):
    return make_party("detroit-cells", ["manufacturer"], country="US", name="Detroit Cells")


@pytest.fixture
def certifier(db):
    return make_party("assay-labs", ["certifier"], country="CA", name="Assay Labs")


@pytest.fixture
def auditor(db):
    return make_party("audit-firm", ["auditor"], country="US", name="Audit Firm")


@pytest.fixture
def ledger(db):
    return Ledger()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture(autouse=True)
def fresh_rules_at_ingest(settings):
    """Tests change rules and append at once: read the rules on every append."""
    settings.CAIRN_RULES_RECHECK_SECONDS = 0


@pytest.fixture(autouse=True, scope="session")
def stop_sequencer_before_the_database_goes(django_db_setup):
    """The sequencer thread holds a connection that would block dropping the test database."""
    yield
    from provenance.append import sequencer

    sequencer.shutdown()


@pytest.fixture(autouse=True)
def fresh_marks(settings, tmp_path_factory):
    """The marks kept outside the database (provenance.marks) start empty in
    each test, as the database does: VAR_DIR and the marks' cache keys."""
    from django.core.cache import cache

    from provenance import marks

    settings.VAR_DIR = tmp_path_factory.mktemp("var")
    with contextlib.suppress(Exception):  # a test may point the cache at nothing
        cache.delete_many([marks.cache_key(name) for name in ("checkpoint", "incidents", "check_runs")])


@pytest.fixture(autouse=True)
def no_epcis_tasks_on_append(settings):
    """No worker runs beside the tests: appends schedule no EPCIS derivation
    (an export derives what is missing); the task's own tests turn it on."""
    settings.CAIRN_EPCIS_DERIVE_ON_APPEND = False


@pytest.fixture(autouse=True)
def fresh_auth_failures():
    """Each test starts with the test client's address owing no failed
    authentications (provenance.api.auth throttles them per address)."""
    from django.core.cache import cache

    with contextlib.suppress(Exception):  # a test may point the cache at nothing
        cache.delete("throttle_auth_failure_127.0.0.1")


@pytest.fixture(autouse=True)
def fresh_health_probes(settings):
    """/health probes afresh in each test: no result carried over from another."""
    from audit import health

    settings.CAIRN_HEALTH_FRESH_SECONDS = 0
    health.PROBES.clear()


@pytest.fixture
def eager(settings):
    # The default filesystem result backend needs its folder (make serve creates it).
    if settings.CELERY_RESULT_BACKEND.startswith("file://"):
        Path(settings.CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def socket_path():
    # AF_UNIX paths are short (108 bytes): pytest's tmp_path can be longer.
    directory = Path(f"/tmp/cairn-seq-{os.getpid()}-{time.monotonic_ns()}")
    directory.mkdir()
    yield directory / "sequencer.sock"
    for item in directory.iterdir():
        item.unlink()
    directory.rmdir()


@pytest.fixture
def served(socket_path, settings, monkeypatch):
    """A sequencer server on a thread; yields the list of batch sizes it appended."""
    batches = []
    real_append_batch = checks.append_batch

    def counting(items):
        batches.append(len(items))
        return real_append_batch(items)

    monkeypatch.setattr(checks, "append_batch", counting)
    server = Server(socket_path, append=checks.append_handed_over)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    settings.CAIRN_SEQUENCER_SOCKET = str(socket_path)
    yield batches
    server.stop()
    thread.join(timeout=10)
    process._forget(getattr(process._local, "sock", None))


@pytest.fixture
def tampered(ledger, miner, refiner, maker):
    """Two verified claims from two chains; the first chain's ore entry changed and found."""
    claim(ledger, maker, simple_chain(ledger, miner, refiner, maker), TAMPERED_VIN)
    claim(ledger, maker, simple_chain(ledger, miner, refiner, maker), TAMPERED_OTHER)
    checkpoints.publish_checkpoint()
    first, second = verify_claim(TAMPERED_VIN, requested_by=None), verify_claim(TAMPERED_OTHER, requested_by=None)
    origin = Entry.objects.filter(type="origin").order_by("index").first().index
    tamper_envelope(origin, raise_value)
    integrity_checks.run_incremental()
    incident = IntegrityIncident.objects.get(suspect=f"entry #{origin}")
    return incident, first, second, origin


@pytest.fixture
def cells(ledger, miner, refiner, maker):
    """A §45X component batch whose MACR is 60% (tests.support.macr_cells)."""
    return macr_cells(ledger, miner, refiner, maker)
