"""POST and GET /api/v1/verifications (contract §5): auditors only; the report
is a DSSE envelope over the verdict, signed by the key of GET /log/key."""

from __future__ import annotations

import base64
import json
import re

from agreements.snapshot import current_ruleset
from audit.engine import REPORT_TYPE
from audit.models import Verification
from cairn_core import dsse
from cairn_core.regimes.s30d import ruleset_json
from tests.support import claim, simple_chain

URL = "/api/v1/verifications"
VIN = "5YJ3E1EA0PF000003"


def post(api, party, body):
    auth = party.auth if party else {}
    return api.post(URL, data=json.dumps(body), content_type="application/json", **auth)


def test_an_auditor_verifies_a_claim_and_reads_it_back(api, ledger, miner, refiner, maker, auditor):
    pack = simple_chain(ledger, miner, refiner, maker)
    row = claim(ledger, maker, pack, VIN)
    response = post(api, auditor, {"vin": VIN})
    assert response.status_code == 201, response.content
    body = response.json()
    # The contract's keys in its order, then the fields v1.1 adds, the report last.
    assert list(body) == [
        "id", "vin", "claim_index", "integrity", "credit_usd", "requirements",
        "agreements", "problems", "verified_at", "requested_by", "checkpoint",
        "scope", "applied", "report",
    ]  # fmt: skip
    # When and for whom, inside the signed payload (v1.2).
    user = Verification.objects.get(pk=body["id"]).requested_by
    assert body["requested_by"] == {"organization": auditor.org.slug, "user": user.username}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["verified_at"])
    applied = body["applied"]
    assert applied["rules_version"] == current_ruleset().version
    assert applied["rules_sha256"] == ruleset_json.digest(current_ruleset())
    assert applied["issuer_countries"] == {miner.org.slug: "AU", refiner.org.slug: "JP", maker.org.slug: "US"}
    assert (body["vin"], body["claim_index"], body["credit_usd"]) == (VIN, row.entry_id, "7500")
    assert body["integrity"] == "intact" and body["problems"] == []
    again = api.get(f"{URL}/{body['id']}", **auditor.auth)
    assert again.status_code == 200 and again.json() == {**body, "integrity_warnings": []}
    stored = Verification.objects.get(pk=body["id"])
    assert stored.requested_by.member.organization == auditor.org
    assert stored.organization == auditor.org
    assert stored.checkpoint_size == row.entry_id + 1
    assert stored.rules_version.startswith("rules-")


def test_the_report_verifies_with_the_published_ledger_key(api, ledger, miner, refiner, maker, auditor):
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    body = post(api, auditor, {"vin": VIN}).json()
    key = api.get("/api/v1/log/key").json()
    public_key = base64.b64decode(key["public_key"])
    report = body["report"]
    assert report["payloadType"] == REPORT_TYPE
    (signature,) = report["signatures"]
    assert signature["keyid"] == dsse.keyid_for(public_key)
    payload = base64.b64decode(report["payload"])
    message = dsse.pae(REPORT_TYPE, payload)
    assert dsse.verify_signature(public_key, message, base64.b64decode(signature["sig"]))
    assert json.loads(payload) == {k: v for k, v in body.items() if k != "report"}
    # The verdict names the checkpoint it was computed against: the latest.
    assert api.get("/api/v1/log/checkpoint").content.decode() == body["checkpoint"]


def test_a_claim_logged_after_the_last_checkpoint_gets_a_new_one(api, ledger, miner, refiner, maker, auditor):
    from provenance import checkpoints

    pack = simple_chain(ledger, miner, refiner, maker)
    checkpoints.publish_checkpoint()
    row = claim(ledger, maker, pack, VIN)
    assert checkpoints.latest().tree_size == row.entry_id
    body = post(api, auditor, {"vin": VIN}).json()
    assert checkpoints.latest().tree_size == row.entry_id + 1
    assert body["checkpoint"] == checkpoints.latest().note


def test_other_roles_and_anonymous_callers_are_refused(api, ledger, miner, refiner, maker, auditor):
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    for party in (maker, miner):
        response = post(api, party, {"vin": VIN})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "role_not_allowed"
    response = post(api, None, {"vin": VIN})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    verification_id = post(api, auditor, {"vin": VIN}).json()["id"]
    assert api.get(f"{URL}/{verification_id}", **maker.auth).json()["error"]["code"] == "role_not_allowed"
    assert api.get(f"{URL}/{verification_id}").status_code == 401
    assert Verification.objects.count() == 1


def test_unknown_vin_and_unknown_id_are_not_found(api, auditor, db):
    response = post(api, auditor, {"vin": "5YJ3E1EA0PF999999"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = api.get(f"{URL}/12345", **auditor.auth)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert Verification.objects.count() == 0


def test_a_body_without_a_vin_is_a_bad_request(api, auditor, db):
    for body in ({}, {"vin": 7}, ["vin"]):
        response = post(api, auditor, body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad_request"


def test_the_paths_have_no_trailing_slash(api, auditor, db):
    assert post(api, auditor, {"vin": VIN}).status_code == 404  # found the view: no claim
    response = api.post(URL + "/", data="{}", content_type="application/json", **auditor.auth)
    assert response.status_code == 404
