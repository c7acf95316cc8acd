"""The documented production environment passes `check --deploy` with no
security warning; CAIRN_HTTPS=1 means TLS ends at a proxy in front; without
it plain HTTP keeps working."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x7Lq2vP9sK4mN8rT1wY6zB3cF5hJ0dG2aE9uI4oQ7lV1nM6pR3tS8yW5bX2",
    "ALLOWED_HOSTS": "cairn.example.org",
    "CAIRN_HTTPS": "1",
}


def run(code_or_args, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "CAIRN_HTTPS", "ALLOWED_HOSTS"}}
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_gives_no_security_warning_in_production():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION)
    output = result.stdout + result.stderr
    assert "security." not in output, output
    # Without CAIRN_HTTPS the same check names what HTTPS would add: the test can fail.
    plain = run(["manage.py", "check", "--deploy"], {**PRODUCTION, "CAIRN_HTTPS": "0"})
    assert "security.W008" in plain.stdout + plain.stderr


BEHAVIOUR = """
import json, django
django.setup()
from django.test import Client
client = Client()
def answer(response):
    return {"status": response.status_code, "location": response.get("Location"),
            "hsts": response.get("Strict-Transport-Security")}
print(json.dumps({
    "http": answer(client.get("/api/v1/log/key", HTTP_HOST=HOST)),
    "https": answer(client.get("/api/v1/log/key", HTTP_HOST=HOST, HTTP_X_FORWARDED_PROTO="https")),
    "health_http": answer(client.get("/health", HTTP_HOST=HOST)),
}))
"""


def behaviour(env: dict[str, str], host: str) -> dict:
    result = run(f"HOST = {host!r}\n" + BEHAVIOUR, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_with_cairn_https_plain_http_is_redirected_and_https_gets_hsts():
    answers = behaviour(PRODUCTION, "cairn.example.org")
    assert answers["http"]["status"] == 301
    assert answers["http"]["location"] == "https://cairn.example.org/api/v1/log/key"
    assert answers["https"]["status"] == 200
    assert answers["https"]["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert answers["health_http"]["status"] != 301  # load balancers ask /health directly


def test_without_cairn_https_plain_http_on_127_0_0_1_keeps_working():
    env = {**PRODUCTION, "CAIRN_HTTPS": "", "ALLOWED_HOSTS": "127.0.0.1"}
    answers = behaviour(env, "127.0.0.1")
    assert answers["http"]["status"] == 200
    assert answers["http"]["hsts"] is None
