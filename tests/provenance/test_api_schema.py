"""Every documented answer of every endpoint, held to the schema served.

The bodies come from the serializers (provenance.api.serializers.render)
and so does GET /api/schema: one representative request per documented
status of each operation, its body validated against what the schema
served says of that status, with no member the schema does not name. A new
endpoint or status without a case here fails `test_every_documented_answer_has_a_case`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth import get_user_model
from jsonschema import Draft202012Validator
from rest_framework.authtoken.models import Token

from audit import macr
from audit.models import MacrVerification, Verification
from cairn_core import dsse
from provenance import checkpoints
from provenance.api import views
from provenance.api.throttles import TokenRateThrottle
from provenance.errors import LedgerError
from provenance.models import Batch, Entry, SigningKey
from provenance.rule_changes import record_current
from tests.support import (
    TAMPERED_OTHER,
    batch_body,
    ledger_snapshot,
    macr_cells,
    origin_body,
    origin_payload,
    sign_payload,
    tamper,
)

API = "/api/v1"


class Site:
    """What the cases request against: the `tampered` ledger (entries, two
    verdicts, an open incident, a checkpoint), its parties, and an account
    of no organisation."""

    def __init__(self, api, ledger, miner, refiner, maker, auditor, incident, verification, cells) -> None:
        self.api, self.ledger, self.miner, self.refiner, self.maker = api, ledger, miner, refiner, maker
        self.auditor, self.incident, self.verification = auditor, incident, verification
        # A §45X component batch (tests.support.macr_cells) and its stored verification.
        self.cells = cells
        self.macr = macr.store_verification(cells, 2026, requested_by=None)
        outsider = get_user_model().objects.create_user("outsider")
        self.outsider = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=outsider).key}"}
        self.entry = Entry.objects.filter(type="origin").order_by("index").first()
        self.batch = Batch.objects.filter(custodian=maker.org).order_by("id").first()
        self.size = checkpoints.latest().tree_size
        # When set, sent in place of the credentials a case names.
        self.acting_as: dict | None = None
        # What was stored just before the last POST (after any setup of its case).
        self.before_post: dict | None = None

    def get(self, path: str, auth: dict | None = None):
        return self.api.get(API + path, **self._credentials(auth))

    def post(self, path: str, body: bytes | dict, auth: dict | None = None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.before_post = stored()
        return self.api.post(API + path, data=data, content_type="application/json", **self._credentials(auth))

    def _credentials(self, auth: dict | None) -> dict:
        return self.acting_as if self.acting_as is not None else (auth or {})


def stored() -> dict:
    """Everything a refused POST must leave as it was."""
    return {
        **ledger_snapshot(),
        "keys": SigningKey.objects.count(),
        "verdicts": Verification.objects.count(),
        "macr_verdicts": MacrVerification.objects.count(),
    }


@pytest.fixture
def site(api, ledger, miner, refiner, maker, auditor, tampered):
    incident, first, _second, _origin = tampered
    cells = macr_cells(ledger, miner, refiner, maker)
    return Site(api, ledger, miner, refiner, maker, auditor, incident, first, cells)


Case = Callable[[Site], Any]

OVER_64_KIB = b'{"payload": "' + b"A" * (70 * 1024) + b'"}'


def _origin(site: Site, name: str) -> bytes:
    return origin_body(site.ledger, site.miner, name)


def _overdraw(site: Site) -> bytes:
    batch = site.ledger.origin(site.miner, quantity="10")
    payload = site.ledger.statement(
        "transform",
        site.miner,
        activity="processing",
        site={"name": "plant", "country": "AU"},
        inputs=[{"batch": batch, "prev": site.ledger.head(batch), "quantity": "11"}],
        outputs=[
            {
                "batch": site.ledger.local(site.miner),
                "material": "m",
                "quantity": "1",
                "unit": "kg",
                "value_added_usd": "1",
            }
        ],
    )
    return sign_payload(payload, site.miner)


def _public_key() -> str:
    return dsse.b64encode(dsse.raw_public_key(Ed25519PrivateKey.generate()))


def _miners_key(site: Site) -> str:
    return dsse.b64encode(dsse.raw_public_key(site.miner.private_key))


def _unavailable(site: Site, monkeypatch: pytest.MonkeyPatch):
    def refuse(*args: Any, **kwargs: Any):
        raise LedgerError("unavailable", "The ledger is not appending now.")

    monkeypatch.setattr(views.checks, "append_attestation", refuse)
    return site.post("/attestations", _origin(site, "late"), site.miner.auth)


def _resent(site: Site):
    body = _origin(site, "twice")
    site.post("/attestations", body, site.miner.auth)
    return site.post("/attestations", body, site.miner.auth)


def _macr_rules_unlogged(site: Site) -> None:
    """The §45X rule data changed without its rules entry: every §45X verdict is refused, 503."""
    record_current(reason="after the migrations", source="the data migrations", by="tester")
    tamper("UPDATE material_assistance_macrthreshold SET percent = 50 WHERE percent = 60")


def _macr_preview_refused(site: Site):
    _macr_rules_unlogged(site)
    return site.get(f"/batches/{site.cells.id}/macr?year=2026", site.maker.auth)


def _macr_verification_refused(site: Site):
    _macr_rules_unlogged(site)
    return site.post("/macr-verifications", {"batch": site.cells.id, "year": 2026}, site.maker.auth)


def _stale(site: Site):
    batch = site.ledger.origin(site.miner)
    payload = site.ledger.statement("transfer", site.miner, batch=batch, prev="0" * 64, to=site.refiner.slug)
    return site.post("/attestations", sign_payload(payload, site.miner), site.miner.auth)


# (method, path in the schema, status): one representative request. Answers
# every authenticated endpoint gives alike (401, 403 for a role, 429) are
# added for each below.
CASES: dict[tuple[str, str, int], Case] = {
    ("get", "/attestations", 200): lambda site: site.get("/attestations?limit=2", site.auditor.auth),
    ("get", "/attestations", 400): lambda site: site.get("/attestations?limit=0", site.auditor.auth),
    ("post", "/attestations", 201): lambda site: site.post("/attestations", _origin(site, "new"), site.miner.auth),
    ("post", "/attestations", 200): _resent,
    ("post", "/attestations", 400): lambda site: site.post("/attestations", b"{}", site.miner.auth),
    ("post", "/attestations", 403): lambda site: site.post(
        "/attestations", sign_payload(origin_payload(site.ledger, site.refiner), site.refiner), site.miner.auth
    ),
    ("post", "/attestations", 404): lambda site: site.post(
        "/attestations",
        sign_payload(
            site.ledger.statement(
                "transfer", site.miner, batch="pilbara-mining:none", prev="0" * 64, to=site.refiner.slug
            ),
            site.miner,
        ),
        site.miner.auth,
    ),
    ("post", "/attestations", 409): _stale,
    ("post", "/attestations", 413): lambda site: site.post("/attestations", OVER_64_KIB, site.miner.auth),
    ("post", "/attestations", 422): lambda site: site.post("/attestations", _overdraw(site), site.miner.auth),
    ("get", "/attestations/{index}", 200): lambda site: site.get(f"/attestations/{site.entry.index}", site.miner.auth),
    ("get", "/attestations/{index}", 404): lambda site: site.get("/attestations/999999", site.miner.auth),
    ("post", "/attestations/batch", 200): lambda site: site.post(
        "/attestations/batch", batch_body(_origin(site, "b1"), b"{}"), site.miner.auth
    ),
    ("post", "/attestations/batch", 400): lambda site: site.post("/attestations/batch", b"[]", site.miner.auth),
    ("post", "/attestations/batch", 413): lambda site: site.post(
        "/attestations/batch", b'{"envelopes": ["' + b"A" * (17 * 1024 * 1024) + b'"]}', site.miner.auth
    ),
    ("post", "/attestations/validate", 200): lambda site: site.post(
        "/attestations/validate", batch_body(_origin(site, "v1"), b"{}"), site.miner.auth
    ),
    ("post", "/attestations/validate", 400): lambda site: site.post("/attestations/validate", b"[]", site.miner.auth),
    ("post", "/attestations/validate", 413): lambda site: site.post(
        "/attestations/validate", b'{"envelopes": ["' + b"A" * (17 * 1024 * 1024) + b'"]}', site.miner.auth
    ),
    ("get", "/batches", 200): lambda site: site.get("/batches", site.miner.auth),
    ("get", "/batches", 400): lambda site: site.get("/batches?limit=x", site.miner.auth),
    ("get", "/batches", 403): lambda site: site.get(f"/batches?custodian={site.refiner.slug}", site.miner.auth),
    ("get", "/batches/{batch_id}", 200): lambda site: site.get(f"/batches/{site.batch.id}", site.maker.auth),
    ("get", "/batches/{batch_id}", 404): lambda site: site.get("/batches/nobody:none", site.miner.auth),
    ("get", "/batches/{batch_id}/epcis", 200): lambda site: site.get(
        f"/batches/{site.batch.id}/epcis", site.maker.auth
    ),
    ("get", "/batches/{batch_id}/epcis", 404): lambda site: site.get("/batches/nobody:none/epcis", site.miner.auth),
    ("get", "/batches/{batch_id}/provenance", 200): lambda site: site.get(
        f"/batches/{site.batch.id}/provenance", site.maker.auth
    ),
    ("get", "/batches/{batch_id}/provenance", 404): lambda site: site.get(
        "/batches/nobody:none/provenance", site.miner.auth
    ),
    ("get", "/batches/{batch_id}/macr", 200): lambda site: site.get(
        f"/batches/{site.cells.id}/macr?year=2026", site.maker.auth
    ),
    ("get", "/batches/{batch_id}/macr", 400): lambda site: site.get(
        f"/batches/{site.cells.id}/macr?year=26", site.maker.auth
    ),
    ("get", "/batches/{batch_id}/macr", 404): lambda site: site.get(
        f"/batches/{site.cells.id}/macr?year=2026", site.miner.auth
    ),
    ("get", "/batches/{batch_id}/macr", 503): _macr_preview_refused,
    ("get", "/critical-minerals", 200): lambda site: site.get("/critical-minerals"),
    ("get", "/incidents", 200): lambda site: site.get("/incidents", site.auditor.auth),
    ("get", "/incidents", 400): lambda site: site.get("/incidents?state=closed", site.auditor.auth),
    ("get", "/keys", 200): lambda site: site.get("/keys", site.auditor.auth),
    ("post", "/keys", 201): lambda site: site.post("/keys", {"public_key": _public_key()}, site.miner.auth),
    ("post", "/keys", 200): lambda site: site.post("/keys", {"public_key": _miners_key(site)}, site.miner.auth),
    ("post", "/keys", 400): lambda site: site.post("/keys", {"key": "x"}, site.miner.auth),
    ("post", "/keys", 413): lambda site: site.post("/keys", OVER_64_KIB, site.miner.auth),
    ("post", "/keys/{keyid}/revoke", 200): lambda site: site.post(
        f"/keys/{site.miner.keyid}/revoke", b"", site.miner.auth
    ),
    ("post", "/keys/{keyid}/revoke", 404): lambda site: site.post(f"/keys/{'0' * 64}/revoke", b"", site.miner.auth),
    ("post", "/keys/{keyid}/revoke", 413): lambda site: site.post(
        f"/keys/{site.miner.keyid}/revoke", OVER_64_KIB, site.miner.auth
    ),
    ("get", "/log/checkpoint", 200): lambda site: site.get("/log/checkpoint"),
    ("get", "/log/entries", 200): lambda site: site.get("/log/entries?start=0&end=3", site.auditor.auth),
    ("get", "/log/entries", 400): lambda site: site.get("/log/entries?start=3&end=0", site.auditor.auth),
    ("get", "/log/key", 200): lambda site: site.get("/log/key"),
    ("get", "/log/proof/consistency", 200): lambda site: site.get(f"/log/proof/consistency?first=1&second={site.size}"),
    ("get", "/log/proof/consistency", 400): lambda site: site.get("/log/proof/consistency?first=2&second=1"),
    ("get", "/log/proof/inclusion", 200): lambda site: site.get(f"/log/proof/inclusion?index=0&tree_size={site.size}"),
    ("get", "/log/proof/inclusion", 400): lambda site: site.get("/log/proof/inclusion?index=0"),
    ("get", "/log/tile/{coordinates}", 200): lambda site: site.get(f"/log/tile/0/000.p/{site.size}"),
    ("get", "/log/tile/{coordinates}", 400): lambda site: site.get("/log/tile/x"),
    ("get", "/log/tile/{coordinates}", 404): lambda site: site.get("/log/tile/0/x001/000"),
    ("get", "/log/tile/entries/{coordinates}", 200): lambda site: site.get(
        f"/log/tile/entries/000.p/{site.size}", site.auditor.auth
    ),
    ("get", "/log/tile/entries/{coordinates}", 400): lambda site: site.get("/log/tile/entries/x", site.auditor.auth),
    ("get", "/log/tile/entries/{coordinates}", 404): lambda site: site.get(
        "/log/tile/entries/x001/000", site.auditor.auth
    ),
    ("get", "/log/witnesses", 200): lambda site: site.get("/log/witnesses"),
    ("get", "/organization", 200): lambda site: site.get("/organization", site.miner.auth),
    ("post", "/macr-verifications", 201): lambda site: site.post(
        "/macr-verifications", {"batch": site.cells.id, "year": 2026, "sold_year": 2027}, site.auditor.auth
    ),
    ("post", "/macr-verifications", 400): lambda site: site.post(
        "/macr-verifications", {"batch": site.cells.id}, site.maker.auth
    ),
    ("post", "/macr-verifications", 404): lambda site: site.post(
        "/macr-verifications", {"batch": site.cells.id, "year": 2026}, site.miner.auth
    ),
    ("post", "/macr-verifications", 413): lambda site: site.post("/macr-verifications", OVER_64_KIB, site.maker.auth),
    ("post", "/macr-verifications", 503): _macr_verification_refused,
    ("get", "/macr-verifications/{verification_id}", 200): lambda site: site.get(
        f"/macr-verifications/{site.macr.pk}", site.maker.auth
    ),
    ("get", "/macr-verifications/{verification_id}", 404): lambda site: site.get(
        f"/macr-verifications/{site.macr.pk}", site.miner.auth
    ),
    ("get", "/macr-verifications/{verification_id}/bundle", 200): lambda site: site.get(
        f"/macr-verifications/{site.macr.pk}/bundle", site.auditor.auth
    ),
    ("get", "/macr-verifications/{verification_id}/bundle", 404): lambda site: site.get(
        "/macr-verifications/999999/bundle", site.maker.auth
    ),
    ("post", "/verifications", 201): lambda site: site.post(
        "/verifications", {"vin": TAMPERED_OTHER}, site.auditor.auth
    ),
    ("post", "/verifications", 400): lambda site: site.post("/verifications", {}, site.auditor.auth),
    ("post", "/verifications", 404): lambda site: site.post("/verifications", {"vin": "NONE"}, site.auditor.auth),
    ("post", "/verifications", 413): lambda site: site.post("/verifications", OVER_64_KIB, site.auditor.auth),
    ("get", "/verifications/{verification_id}", 200): lambda site: site.get(
        f"/verifications/{site.verification.id}", site.auditor.auth
    ),
    ("get", "/verifications/{verification_id}", 404): lambda site: site.get("/verifications/999999", site.auditor.auth),
    ("get", "/verifications/{verification_id}/bundle", 200): lambda site: site.get(
        f"/verifications/{site.verification.id}/bundle", site.auditor.auth
    ),
    ("get", "/verifications/{verification_id}/bundle", 404): lambda site: site.get(
        "/verifications/999999/bundle", site.auditor.auth
    ),
}
# Only the auditors' endpoints refuse another role; the others refuse an
# account of no organisation.
AUDITORS = ("/incidents", "/log/entries", "/log/tile/entries/{coordinates}", "/verifications")
# One request of each operation, with the path's parameters filled: what the
# 401, 403 and 429 cases send.
SAMPLES = {(method, path): case for (method, path, status), case in CASES.items() if status in (200, 201)}


# Answers that need a setup of their own, each checked by its own test below.
OWN_TESTS = (("post", "/attestations", 503), ("get", "/log/checkpoint", 404))


def _answer(schema: dict, method: str, path: str, status: int) -> dict:
    return schema["paths"][API + path][method]["responses"][str(status)]


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def documented(schema: dict) -> set[tuple[str, str, int]]:
    return {
        (method, path.removeprefix(API), int(status))
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
    }


def _generic(schema: dict) -> dict[tuple[str, str, int], tuple[str, Case]]:
    """The 401, 403 (role) and 429 answers of each operation, as (how, sample)."""
    found = {}
    for method, path, status in documented(schema):
        if (method, path, status) in CASES or status not in (401, 403, 429):
            continue
        found[(method, path, status)] = (
            {401: "anonymous", 403: "role", 429: "throttled"}[status],
            SAMPLES[(method, path)],
        )
    return found


def test_every_documented_answer_has_a_case(schema):
    missing = documented(schema) - set(CASES) - set(_generic(schema)) - set(OWN_TESTS)
    assert not missing, sorted(missing)
    assert set(CASES) <= documented(schema), sorted(set(CASES) - documented(schema))


def _validator(schema: dict, answer: dict, media_type: str) -> Draft202012Validator:
    """The JSON Schema of one answer: OpenAPI 3.0's `nullable` as JSON Schema's
    null type, and every object closed to members the schema does not name."""
    components = _json_schema(copy.deepcopy(schema["components"]))
    document = {**answer["content"][media_type]["schema"], "components": components}
    return Draft202012Validator(document, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if "properties" in node:
        node.setdefault("additionalProperties", False)
    if node.pop("nullable", False):
        node = {"anyOf": [node, {"type": "null"}]}
    return node


def _check(schema: dict, method: str, path: str, status: int, response, site: Site | None = None) -> None:
    assert response.status_code == status, (method, path, response.content[:300])
    if site is not None and method == "post" and status >= 400:
        assert stored() == site.before_post, "a refused POST stored something"
    answer = _answer(schema, method, path, status)
    media_type = response["Content-Type"].split(";")[0]
    assert media_type in answer["content"], (media_type, list(answer["content"]))
    if media_type == "application/json" or media_type.endswith("+json"):
        body = json.loads(response.content)
        errors = sorted(_validator(schema, answer, media_type).iter_errors(body), key=str)
        assert not errors, [f"{list(error.absolute_path)}: {error.message}" for error in errors]
    else:
        assert response.content


@pytest.mark.parametrize(("method", "path", "status"), sorted(CASES))
def test_each_answer_validates_against_the_schema_served(schema, site, method, path, status):
    _check(schema, method, path, status, CASES[(method, path, status)](site), site)


def test_an_unavailable_append_validates_against_the_schema_served(schema, site, monkeypatch):
    _check(schema, "post", "/attestations", 503, _unavailable(site, monkeypatch), site)


def test_the_checkpoint_before_the_first_validates_against_the_schema_served(schema, db, client):
    _check(schema, "get", "/log/checkpoint", 404, client.get(f"{API}/log/checkpoint"))


def test_each_refusal_of_the_caller_validates_against_the_schema_served(schema, site, monkeypatch):
    """401 without a token, 403 for a role or no organisation, 429 throttled:
    every operation that documents them, through its own sample request."""
    for (method, path, status), (how, sample) in sorted(_generic(schema).items()):
        if how == "anonymous":
            site.acting_as = {}
            response = sample(site)
        elif how == "role":
            site.acting_as = site.miner.auth if path.startswith(AUDITORS) else site.outsider
            response = sample(site)
        else:
            site.acting_as = None
            with monkeypatch.context() as patched:
                patched.setattr(TokenRateThrottle, "allow_request", lambda self, request, view: False)
                patched.setattr(TokenRateThrottle, "wait", lambda self: 1)
                response = sample(site)
        _check(schema, method, path, status, response, site)
