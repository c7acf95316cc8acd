"""Through a real gunicorn with config/gunicorn.py: chunked bodies are read,
and gunicorn's own refusals come in the contract's error body."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from provenance.models import Entry
from tests.support import Ledger, origin_payload, sign_payload, stop, worker_environment

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a server process needs PostgreSQL's test database"),
]


def free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def server(settings, tmp_path):
    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {**worker_environment(tmp_path), "ALLOWED_HOSTS": "127.0.0.1", "CAIRN_SEQUENCER_SOCKET": ""}
    process = subprocess.Popen(
        [str(gunicorn), "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}", "--workers", "1", "config.wsgi"],
        cwd=settings.BASE_DIR,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
    yield port
    stop(process)


def request(port, method, path, body=None, headers=None, chunked=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if chunked:
        conn.putrequest(method, path)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for start in range(0, len(body), 100):
            piece = body[start : start + 100]
            conn.send(b"%x\r\n%b\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
    else:
        conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.getheader("Content-Type"), response.read()


def test_a_chunked_body_is_read(server, miner):
    body = sign_payload(origin_payload(Ledger(), miner), miner)
    headers = {"Content-Type": "application/json", "Authorization": f"Token {miner.token}"}
    status, _, content = request(server, "POST", "/api/v1/attestations", body, headers, chunked=True)
    assert status == 201, content
    assert Entry.objects.exclude(type="ledger").count() == 1


def test_a_chunked_body_over_the_limit_is_payload_too_large(server, miner):
    body = b'{"x": "' + b"a" * (70 * 1024) + b'"}'
    headers = {"Content-Type": "application/json", "Authorization": f"Token {miner.token}"}
    status, content_type, content = request(server, "POST", "/api/v1/attestations", body, headers, chunked=True)
    assert (status, content_type) == (413, "application/json")
    assert b'"payload_too_large"' in content


def test_gunicorns_own_refusals_are_contract_error_bodies(server):
    import json

    status, content_type, content = request(server, "GET", "/api/v1/log/checkpoint?x=" + "a" * 10_000)
    assert (status, content_type) == (414, "application/json")
    assert json.loads(content)["error"]["code"] == "bad_request"
    status, content_type, content = request(server, "GET", "/api/v1/log/key", headers={"X-Big": "b" * 10_000})
    assert (status, content_type) == (431, "application/json")
    assert json.loads(content)["error"]["message"]
    status, _, content = request(server, "GET", "/api/v1/log/key")
    assert status == 200, content
