"""The documented production environment passes Django's deploy checks and
drf-spectacular's schema validation without a warning."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

# The production environment of docs/operators.md ("Production run"), less the
# services, which the checks do not reach.
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-secret-of-more-than-fifty-characters-with-5-different-ones",
    "ALLOWED_HOSTS": "cairn.example.org",
    "CAIRN_HTTPS": "1",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        # The documented environment only: nothing a test runner set (Playwright's
        # DJANGO_ALLOW_ASYNC_UNSAFE, say) may leak in.
        env={**{k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG"}}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_gives_no_warning_in_the_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_openapi_schema_validates_without_a_warning(tmp_path):
    result = manage("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"), env={})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "paths:" in (tmp_path / "schema.yaml").read_text()


def test_a_yes_no_setting_that_is_neither_stops_start_up():
    """`CAIRN_HTTPS=ture` (a typo) must not quietly mean plain HTTP."""
    result = manage("check", env={**PRODUCTION, "CAIRN_HTTPS": "ture"})
    assert result.returncode != 0
    assert "CAIRN_HTTPS='ture' is not a yes/no value" in result.stderr
    for word in ("Yes", " on ", "0", ""):
        assert manage("check", env={**PRODUCTION, "CAIRN_HTTPS": word}).returncode == 0, word


def test_the_demo_is_an_app_only_where_the_demo_runs():
    """Production's settings leave the demo out (its commands do not exist);
    CAIRN_DEMO=1, which `make demo` sets, puts it in."""
    production = {**PRODUCTION, "DJANGO_SETTINGS_MODULE": "config.settings", "CAIRN_DEMO": ""}
    result = manage("help", "load_demo", env=production)
    assert result.returncode != 0
    assert "Unknown command: 'load_demo'" in result.stderr
    result = manage("help", "load_demo", env={**production, "CAIRN_DEMO": "1"})
    assert result.returncode == 0, result.stderr
    assert "--instructions-only" in result.stdout
