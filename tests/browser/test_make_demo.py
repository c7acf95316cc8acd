"""`make demo` as a newcomer runs it: DEBUG off, the contract's JSON errors, static files, its output.

The real command in a temporary VAR directory (SQLite, the filesystem
broker, its own ledger key): the web server, a Celery worker and beat. The
browser then reads the API's errors, the admin's styled pages, the API docs
and the public critical-minerals list.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.support import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not shutil.which("make"), reason="make is absent")]
STARTUP_SECONDS = 180
SERVER_LINE = "Starting development server at"
EXIT_SECONDS = 10  # how long a process killed by make's trap may take to be gone


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Demo:
    """`make demo` in its own process group, its output collected as it comes."""

    def __init__(self, var_dir: Path, port: int) -> None:
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CACHE_URL", "DEBUG"}
        }
        environment |= {
            "CAIRN_VAR_DIR": str(var_dir),
            "CAIRN_DEV_KEY_DIR": str(var_dir / "ledger-key"),
            "LEDGER_SIGNING_KEY": "",
        }
        self.environment = environment  # what the demo's processes see (no DATABASE_URL: SQLite)
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "demo", f"PORT={port}"],
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.output:
            if self.process.poll() is not None:
                raise AssertionError(f"make demo exited with {self.process.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} after {seconds} s:\n{self.output}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Ctrl-C, as a person stops it: the web server, worker and beat go together."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.leftovers = self.group_members_after(EXIT_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # never leave a process behind
        self.reader.join(timeout=5)

    def group_members(self) -> list[str]:
        """The processes still in make's process group (after it exited)."""
        listing = subprocess.run(["ps", "-eo", "pgid=,args="], capture_output=True, text=True).stdout
        rows = [line.split(None, 1) for line in listing.splitlines() if line.strip()]
        return [args for pgid, args in rows if pgid == str(self.process.pid) and "<defunct>" not in args]

    def group_members_after(self, seconds: float) -> list[str]:
        """The group's processes still there `seconds` after make exited. make's
        trap kills a worker's pool processes last, and one killed may still be
        exiting when make is done (`ps` then shows it as ``[celery]``, its
        arguments already gone): that one is not left behind."""
        deadline = time.monotonic() + seconds
        while (members := self.group_members()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return members


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One `make demo` for the module's tests (it takes half a minute); each
    test only reads from it."""
    tmp_path = tmp_path_factory.mktemp("demo")
    control_before = (settings.BASE_DIR / "control").exists()
    running = Demo(tmp_path / "var", free_port())
    try:
        running.wait_for("Try the API as that supplier", STARTUP_SECONDS)
        yield running
    finally:
        running.stop()
    # Ctrl-C stops the web server, the worker and beat.
    assert running.leftovers == []
    # Kombu's control folder is under VAR, not in the working tree.
    assert (tmp_path / "var" / "celery" / "control").is_dir()
    assert control_before or not (settings.BASE_DIR / "control").exists()


def base_url(demo: Demo) -> str:
    line = next(line for line in demo.lines if line.startswith("Cairn demo on "))
    return line.split()[3].rstrip("/")


def test_make_demo_serves_the_contract_with_debug_off(demo, screenshot):
    from playwright.sync_api import sync_playwright

    base = base_url(demo)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()

        # Defect 4: API errors are the contract's JSON body, not Django's debug pages.
        response = page.goto(f"{base}/api/v1/no-such-endpoint")
        assert response.status == 404 and response.headers["content-type"].startswith("application/json")
        error = json.loads(page.inner_text("body"))["error"]
        assert error["code"] == "not_found"
        assert "trailing slash" not in error["message"]  # the path has none
        response = page.goto(f"{base}/api/v1/attestations/")
        assert "paths have no trailing slash" in json.loads(page.inner_text("body"))["error"]["message"]
        response = page.goto(f"{base}/api/v1/batches/greenbushes-lithium:SC6-SPARE")
        assert response.status == 401
        assert json.loads(page.inner_text("body"))["error"]["code"] == "not_authenticated"

        # Defect 9: the names a supplier may use, public and in the API docs.
        response = page.goto(f"{base}/api/v1/critical-minerals")
        names = [mineral["name"] for mineral in json.loads(page.inner_text("body"))["critical_minerals"]]
        assert "lithium" in names and len(names) == 50
        page.goto(f"{base}/api/docs/")
        page.get_by_text("/api/v1/critical-minerals", exact=True).wait_for()

        # Static files are served with DEBUG off: the admin is styled.
        page.goto(f"{base}/admin/login/")
        header = page.evaluate("getComputedStyle(document.querySelector('#header')).backgroundColor")
        assert header not in ("rgba(0, 0, 0, 0)", "transparent")
        page.fill("#id_username", "auditor")
        page.fill("#id_password", "cairn-demo-auditor")
        page.click("input[type=submit]")
        page.goto(f"{base}/admin/provenance/claim/")
        # Defect 8: the demo claims are verified at load.
        assert page.locator("#result_list .cairn-badge").count() == 16
        assert page.locator("#result_list").get_by_text("not verified").count() == 0
        # Defect 10: demo entries say who submitted them (the supplier's first, by index;
        # the ledger's own entries for organisations and keys come before it).
        page.goto(f"{base}/admin/provenance/entry/?issuer__slug__exact=greenbushes-lithium&o=1")
        page.locator("#result_list tbody tr").first.locator("a").first.click()
        page.wait_for_selector(".field-submitted_by")
        assert "greenbushes-lithium-api" in page.inner_text(".field-submitted_by")
        screenshot(page, "make-demo-entry")
        browser.close()

    # Defect 10: the logins are printed after the servers' start-up lines, not scrolled away by them.
    lines = demo.lines
    logins = max(number for number, line in enumerate(lines) if "auditor     auditor / cairn-demo-auditor" in line)
    assert any(SERVER_LINE in line for line in lines[:logins]), demo.output
    assert not [line for line in lines if "celery@" in line and "ready" not in line], demo.output
    assert "Traceback" not in demo.output
    # The load's 315 append lines go to its log file, not to the terminal before the logins.
    assert not [line for line in lines[:logins] if '"logger": "cairn.append"' in line], demo.output
    load_log = Path(demo.environment["CAIRN_VAR_DIR"]) / "demo-load.log"
    assert load_log.read_text().count('"logger": "cairn.append"') >= 315


def test_make_demo_s_verdicts_are_witnessed_and_check_out_as_printed(demo, tmp_path):
    """The printed examiner's commands, run as printed: the bundle verifies
    under the pinned log key and both demo witnesses (exit 0)."""
    lines = demo.lines
    start = next(number for number, line in enumerate(lines) if line.startswith("Check a verdict offline"))
    export, *verify = [line.strip() for line in lines[start + 2 : start + 7]]
    command = " ".join(part.removesuffix("\\").strip() for part in verify)
    assert command.count("--witness ") == 2 and "--log-key " in command
    for line in (export, command):
        done = subprocess.run(line, shell=True, cwd=tmp_path, env=demo.environment, capture_output=True, text=True)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
    assert "Witnesses: 2 of 2 pinned cosigned, 2 required" in done.stdout
    # The log serves its checkpoint with both cosignatures after its own line.
    checkpoint = urllib.request.urlopen(f"{base_url(demo)}/api/v1/log/checkpoint", timeout=10).read().decode()
    assert [line.split()[1] for line in checkpoint.splitlines() if line.startswith("—")][1:] == [
        "demo.cairn.localhost/witness-1",
        "demo.cairn.localhost/witness-2",
    ]
