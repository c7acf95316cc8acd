"""Browser tests: Playwright driving Debian's chromium against a live server.

No browser is downloaded: the tests use /usr/bin/chromium and are skipped
when it is absent. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connections

from tests.support import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

# Playwright's sync API runs an event loop in this thread; the ORM calls the
# tests make around it are synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is absent (apt-get install -y chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def page(live_server):
    """A chromium page, started after the test database is set up and stopped
    before it is flushed.

    Playwright's sync API keeps an asyncio loop running in this thread, and
    Django keeps a separate connection object for code running under a loop:
    were the browser started first (or kept for the session), the serialized
    rollback would restore (and flush) the wrong connection object.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.javascript_errors = errors
        yield page
        browser.close()
        # Close the connections opened while the loop ran (see above).
        connections.close_all()


@pytest.fixture
def screenshot():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    take.directory = ARTIFACTS
    return take


@pytest.fixture
def demo_data():
    """The demo's organisations, chain and claims, verified once (as `make demo` loads them)."""
    from audit.engine import verify_claim
    from demo import data as demo

    loaded = demo.load()
    for spec in demo.CLAIMS:
        verify_claim(spec.vin, requested_by=None)
    return loaded


@pytest.fixture
def celery_tasks(settings):
    """Where the page's background tasks run: a real worker on PostgreSQL with a
    Redis broker; elsewhere (SQLite, whose test database a worker cannot
    open) in place, eagerly."""
    from config.celery import app

    if connections["default"].vendor == "postgresql" and settings.CELERY_BROKER_URL.startswith("redis://"):
        from tests.support import stop, worker_environment

        environment = worker_environment(Path(settings.CAIRN_DEV_KEY_DIR))
        process = start_worker({**environment, "LEDGER_SIGNING_KEY": settings.LEDGER_SIGNING_KEY})
        try:
            yield "worker"
        finally:
            stop(process)
        return
    app.conf.task_always_eager = True
    try:
        yield "eager"
    finally:
        app.conf.task_always_eager = False


def start_worker(environment):
    import subprocess
    import sys

    from django.conf import settings

    celery = Path(sys.executable).with_name("celery")
    command = [str(celery), "-A", "config", "--quiet", "worker", "--pool=prefork", "--concurrency=2"]
    command += ["--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    return subprocess.Popen(command, cwd=settings.BASE_DIR, env=environment, start_new_session=True)
