"""deploy/: nginx's configuration is valid and does what docs/operators.md says;
the systemd units run every process of the Procfile, restarted, with the
sequencer's socket directory."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
UNITS = ROOT / "deploy" / "systemd"


def procfile() -> dict[str, str]:
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line and not line.startswith("#")]
    return {name: command.strip() for name, command in (line.split(":", 1) for line in lines)}


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string((UNITS / f"cairn-{name}.service").read_text())
    return parser


def test_nginx_accepts_the_configuration(tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed (.ci/run installs it)")
    text = (ROOT / "deploy" / "nginx" / "cairn.conf").read_text()
    rendered = text.replace("@LISTEN@", "127.0.0.1:1").replace("@UPSTREAM@", "127.0.0.1:2")
    rendered = rendered.replace("@RUNTIME@", str(tmp_path))
    (tmp_path / "nginx.conf").write_text(rendered)
    user = ["-g", "user nobody nogroup;"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), *user],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    for directive in (
        "proxy_request_buffering on;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "client_body_timeout 10s;",
    ):
        assert directive in text


def test_gunicorn_listens_on_loopback_only_by_default(monkeypatch):
    import runpy

    monkeypatch.delenv("CAIRN_WEB_BIND", raising=False)
    monkeypatch.setenv("PORT", "5100")
    assert runpy.run_path(str(ROOT / "config" / "gunicorn.py"))["bind"] == ["127.0.0.1:5100"]


def test_every_procfile_process_has_a_unit_that_restarts_it():
    for name, command in procfile().items():
        service = unit(name)["Service"]
        assert service["Restart"] == "always", name
        assert service["EnvironmentFile"] == "/etc/cairn/cairn.env", name
        expected = command.removeprefix("bin/respawn ")
        program, *arguments = expected.split()
        assert service["ExecStart"].endswith(" ".join(arguments)) or service["ExecStart"].endswith(expected), name
        assert Path(service["ExecStart"].split()[0]).name == Path(program).name, name
    target = (UNITS / "cairn.target").read_text()
    assert all(f"cairn-{name}.service" in target for name in procfile())


def test_the_sequencer_unit_keeps_its_socket_directory():
    service = unit("sequencer")["Service"]
    assert service["RuntimeDirectory"] == "cairn"
    assert service["RuntimeDirectoryMode"] == "0700"
    environment = (UNITS / "cairn.env.example").read_text()
    assert re.search(r"^CAIRN_SEQUENCER_SOCKET=/run/cairn/", environment, re.MULTILINE)
    assert re.search(r"^CAIRN_WEB_BIND=127\.0\.0\.1:", environment, re.MULTILINE)
    assert re.search(r"^CAIRN_TRUSTED_PROXIES=127\.0\.0\.1", environment, re.MULTILINE)


def test_nginx_answers_its_own_refusals_in_the_contracts_body(tmp_path):
    """bin/proxy with nothing behind it: a request line it cannot parse, a
    body over its limit, gunicorn not answering: each the contract's body."""
    import http.client
    import json
    import signal
    import socket
    import time

    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.skip("nginx is not installed (.ci/run installs it)")
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    env = {**os.environ, "PORT": str(ports[0]), "CAIRN_WEB_BIND": f"127.0.0.1:{ports[1]}"}
    proxy = subprocess.Popen([str(ROOT / "bin" / "proxy")], env=env, start_new_session=True)

    def ask(method: str, path: str, headers: dict | None = None) -> tuple[int, dict, str | None]:
        conn = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=5)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, json.loads(response.read()), response.getheader("Retry-After")
        finally:
            conn.close()

    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", ports[0]), 1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        status, body, _ = ask("POST", "/api/v1/keys/%/revoke")
        assert (status, body["error"]["code"]) == (400, "bad_request")
        status, body, _ = ask("POST", "/api/v1/attestations", {"Content-Length": str(64 * 1024 * 1024)})
        assert (status, body["error"]["code"]) == (413, "payload_too_large")
        status, body, retry = ask("GET", "/api/v1/log/key")
        assert (status, body["error"]["code"], retry) == (503, "outcome_unknown", "1")
    finally:
        os.killpg(proxy.pid, signal.SIGTERM)
        proxy.wait(10)
