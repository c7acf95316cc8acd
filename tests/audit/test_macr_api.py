"""§45X verifications over the API (docs/contract-45x.md §7): stored and signed on POST, read back,
and their proof bundle checked offline by `cairn-verify` with the pinned log key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit.models import MacrVerification
from cairn_core.regimes.s45x import bundle as s45x_bundle
from provenance import ledger_key
from tests.support import MACR_CELLS, ledger_snapshot

pytestmark = pytest.mark.django_db
URL = "/api/v1/macr-verifications"
CLI = Path(sys.executable).parent / "cairn-verify"


def post(api, party, body) -> object:
    return api.post(URL, data=json.dumps(body).encode(), content_type="application/json", **party.auth)


def stored() -> dict:
    return {**ledger_snapshot(), "macr": MacrVerification.objects.count()}


def cairn_verify(path: Path, *args: str) -> subprocess.CompletedProcess:
    """The verifier as an examiner runs it: its own process, no Django settings."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run([CLI, str(path), *args], capture_output=True, text=True, timeout=120, env=env)


def test_the_taxpayer_and_auditors_verify_and_read_back_the_signed_verdict(api, cells, maker, auditor):
    """$100 of direct materials, $40 attributed: 60%, a pass at 2026's 60%; as if sold in 2027, a fail at 65%."""
    created = post(api, maker, {"batch": MACR_CELLS, "year": 2026})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["outcome"], body["macr"]["percent_shown"]) == ("pass", "60.00")
    assert body["requested_by"]["organization"] == maker.slug and body["report"]["payloadType"] == (
        "application/vnd.cairn.macr-verification+json"
    )
    for party in (maker, auditor):
        read = api.get(f"{URL}/{body['id']}", **party.auth)
        assert read.status_code == 200 and read.json() == body
    asked = post(api, auditor, {"batch": MACR_CELLS, "year": 2026, "sold_year": 2027})
    assert asked.status_code == 201 and asked.json()["outcome"] == "fail"
    assert MacrVerification.objects.count() == 2


def test_others_get_not_found_and_nothing_is_stored(api, cells, maker, miner, auditor):
    for body in (
        {"batch": MACR_CELLS, "year": 2026},  # the miner is not the taxpayer
        {"batch": "detroit-cells:nothing", "year": 2026},
        {"batch": "not a batch", "year": 2026},
    ):
        before = stored()
        refused = post(api, miner if body["batch"] == MACR_CELLS else maker, body)
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found", body
        assert stored() == before
    verification = post(api, auditor, {"batch": MACR_CELLS, "year": 2026}).json()
    for suffix in ("", "/bundle"):
        assert api.get(f"{URL}/{verification['id']}{suffix}", **miner.auth).status_code == 404
        missing = api.get(f"{URL}/{verification['id'] + 1}{suffix}", **auditor.auth)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        {"batch": MACR_CELLS},
        {"batch": MACR_CELLS, "year": "2026"},
        {"batch": MACR_CELLS, "year": 2026.0},
        {"batch": MACR_CELLS, "year": True},
        {"batch": MACR_CELLS, "year": 1999},
        {"batch": MACR_CELLS, "year": 2026, "sold_year": 2101},
        {"batch": MACR_CELLS, "year": 2026, "vin": "x"},
    ],
)
def test_a_malformed_request_is_bad_request_and_stores_nothing(api, cells, maker, body):
    before = stored()
    refused = post(api, maker, body)
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["code"] in ("bad_request", "invalid_payload")
    assert stored() == before


def test_a_body_that_is_not_json_is_invalid_payload_and_stores_nothing(api, cells, maker):
    before = stored()
    refused = api.post(URL, data=b'{"batch": "x", "batch": "y"}', content_type="application/json", **maker.auth)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_payload"
    assert stored() == before


@pytest.mark.parametrize("sold_year", [None, 2027])
def test_the_bundle_verifies_offline_with_the_pinned_key_and_a_changed_cost_fails(
    api, cells, maker, tmp_path, sold_year
):
    request = {"batch": MACR_CELLS, "year": 2026, **({"sold_year": sold_year} if sold_year else {})}
    verification = post(api, maker, request).json()
    response = api.get(f"{URL}/{verification['id']}/bundle", **maker.auth)
    assert response.status_code == 200 and response["Content-Type"] == "application/vnd.cairn.bundle+json"
    name = s45x_bundle.file_name(MACR_CELLS, 2026, verification["id"])
    assert name == f"detroit-cells.cells-1.2026.{verification['id']}.cairn-bundle.json"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    document = json.loads(response.content)
    assert document["verdict"] == verification and document["regime"] == "45x"
    pinned = ("--log-key", ledger_key.current().verifier)
    path = tmp_path / name
    path.write_bytes(response.content)
    checked = cairn_verify(path, *pinned, "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["outcome"] == verification["outcome"]
    # One direct material cost changed in the signed verdict: the report and the recomputation disagree.
    document["verdict"]["inputs"][0]["direct_material_cost_usd"] = "6"
    changed = tmp_path / f"changed-{name}"
    changed.write_text(json.dumps(document))
    failed = cairn_verify(changed, *pinned)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "inputs[0].direct_material_cost_usd" in failed.stdout or "report" in failed.stdout


def test_the_bundle_holds_the_evidence_and_the_ledger_entries_it_rests_on(api, cells, maker):
    verification = post(api, maker, {"batch": MACR_CELLS, "year": 2026}).json()
    document = json.loads(api.get(f"{URL}/{verification['id']}/bundle", **maker.auth).content)
    result = s45x_bundle.verify(document, log_key=None)
    indexes = {entry["index"] for entry in document["entries"]}
    named = {
        verification["component"]["index"],
        verification["year_sold"]["sale"]["index"],
        *(item["creating_index"] for item in verification["inputs"]),
        *(item["certification"]["index"] for item in verification["inputs"] if item["certification"]),
    }
    assert named <= indexes
    assert {org["slug"] for org in document["organizations"]} >= {"detroit-cells", "kansai-refining", "pilbara-mining"}
    assert result.ledger_entries > 0 and result.verdict_entry is not None
    assert document["verdict_entry"]["index"] > max(indexes)
