"""The `cairn` command against a live server (pytest-django's live_server)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from cairn_core.client.cli import main
from provenance.organizations import create_organization


@dataclass
class Supplier:
    """An organisation with its token, and the files its `cairn` works with."""

    slug: str
    token: str
    home: Path
    url: str

    @property
    def key(self) -> Path:
        return self.home / f"{self.slug}.pem"

    @property
    def env(self) -> dict[str, str]:
        return {
            "CAIRN_URL": self.url,
            "CAIRN_TOKEN": self.token,
            "CAIRN_KEY": str(self.key),
            "CAIRN_STATE": str(self.home / "witness.json"),
            "CAIRN_CONFIG": str(self.home / "no-config.toml"),
            "CAIRN_ISSUER": "",
        }

    def cairn(self, *args: str, input: str | None = None, expect: int = 0):
        """Run `cairn ARGS` as this organisation; check its exit status."""
        result = CliRunner().invoke(main, list(args), env=self.env, input=input, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result

    def cairn_json(self, *args: str, input: str | None = None, expect: int = 0):
        return json.loads(self.cairn("--json", *args, input=input, expect=expect).stdout)

    def write(self, name: str, document: object) -> Path:
        path = self.home / name
        path.write_text(json.dumps(document))
        return path


@pytest.fixture
def one_request_at_a_time(live_server):
    """The live server's requests one at a time on an in-memory SQLite
    database: Django hands each of its threads the test's one connection,
    so requests served side by side (an import's chunks in flight) would
    run inside each other's transactions. PostgreSQL serves them side by side."""
    from django.db import connection

    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        yield
        return
    httpd = live_server.thread.httpd
    app, lock = httpd.get_app(), threading.Lock()

    def serve(environ, start_response):
        with lock:
            return app(environ, start_response)

    httpd.set_app(serve)
    yield
    httpd.set_app(app)


@pytest.fixture
def organization(live_server, one_request_at_a_time, tmp_path):
    def make(slug: str, role: str, country: str = "AU") -> Supplier:
        _, token = create_organization(slug=slug, name=slug.title(), country=country, roles=[role])
        home = tmp_path / slug
        home.mkdir()
        return Supplier(slug, token.key, home, live_server.url)

    return make


@pytest.fixture
def miner(organization):
    """A miner with a registered key, beside the refiner its lots go to (an
    importer's pair; the root conftest's `miner` is a database persona)."""
    organization("kansai-refining", "supplier", country="JP")
    party = organization("pilbara-mining", "supplier")
    party.cairn("keygen", str(party.key))
    party.cairn("key", "register")
    return party
