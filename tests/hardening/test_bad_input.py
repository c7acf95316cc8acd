"""Input that used to break the server (500) or be accepted though wrong:
each is now a contract error from §6's table, and changes nothing."""

from __future__ import annotations

import base64
import json

import pytest

from cairn_core import dsse
from cairn_core.payload import PAYLOAD_TYPE
from provenance.models import SigningKey
from tests.support import assert_refused, ledger_snapshot, origin_payload, post, sign_payload


def raw_envelope(payload_text: str, party) -> bytes:
    """An envelope over exactly these payload bytes (json.dumps would escape differently)."""
    return sign_payload(payload_text.encode("utf-8"), party)


# --- strings no database stores alike ---------------------------------------


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\udfff", "a\\u0000b"])
def test_nul_and_lone_surrogates_in_payload_strings_are_invalid_payload(api, ledger, miner, escape):
    payload = origin_payload(ledger, miner)
    text = json.dumps(payload).replace('"Mine"', f'"Mine{escape}"')
    assert escape in text
    error = assert_refused(api, miner, raw_envelope(text, miner), "invalid_payload", 400)
    assert "NUL" in error["message"]


@pytest.mark.parametrize("character", ["\\u202e", "\\u001b[8m", "\u2066", "\\u0085"])
def test_control_and_bidi_characters_in_payload_strings_are_invalid_payload(api, ledger, miner, character):
    """Contract §2 (v1.2): escaped or raw, refused with nothing stored."""
    payload = origin_payload(ledger, miner)
    text = json.dumps(payload, ensure_ascii=False).replace('"Mine"', f'"Mine{character}"')
    assert f"Mine{character}" in text
    error = assert_refused(api, miner, raw_envelope(text, miner), "invalid_payload", 400)
    assert "bidirectional formatting" in error["message"]


def test_nul_in_an_object_key_or_a_certify_statement_is_invalid_payload(api, ledger, miner, certifier):
    ore = ledger.origin(miner)
    certify = ledger.statement(
        "certify", certifier, batch=ore, prev=ledger.head(ore), statement={"x": "y"}, documents=[]
    )
    for old, new in (('"x": "y"', '"x\\u0000": "y"'), ('"x": "y"', '"x": {"deep": ["\\ud83d"]}')):
        text = json.dumps(certify).replace(old, new)
        assert_refused(api, certifier, raw_envelope(text, certifier), "invalid_payload", 400)


def test_nul_in_a_keyid_or_the_payload_type_is_malformed_envelope(api, ledger, miner):
    body = json.loads(sign_payload(origin_payload(ledger, miner), miner))
    with_nul_keyid = json.dumps({**body, "signatures": [{**body["signatures"][0], "keyid": "ab\u0000"}]})
    assert_refused(api, miner, with_nul_keyid.encode(), "malformed_envelope", 400)
    surrogate_type = json.dumps(body).replace(PAYLOAD_TYPE, PAYLOAD_TYPE + "\\ud800")
    assert_refused(api, miner, surrogate_type.encode(), "malformed_envelope", 400)


# --- numbers, nesting --------------------------------------------------------


def test_a_5000_digit_integer_in_the_envelope_is_malformed(api, ledger, miner):
    body = json.loads(sign_payload(origin_payload(ledger, miner), miner))
    text = json.dumps(body)[:-1] + ', "extra": ' + "9" * 5000 + "}"
    assert_refused(api, miner, text.encode(), "malformed_envelope", 400)
    text = json.dumps({**body, "payload": "PAYLOAD"}).replace('"PAYLOAD"', "1" * 5000)
    assert_refused(api, miner, text.encode(), "malformed_envelope", 400)


def test_a_5000_digit_integer_quantity_is_invalid_payload(api, ledger, miner):
    text = json.dumps(origin_payload(ledger, miner)).replace('"quantity": "100"', '"quantity": ' + "7" * 5000)
    assert_refused(api, miner, raw_envelope(text, miner), "invalid_payload", 400)


def test_deep_nesting_in_a_payload_is_invalid_payload(api, ledger, miner, certifier):
    ore = ledger.origin(miner)
    certify = ledger.statement(
        "certify", certifier, batch=ore, prev=ledger.head(ore), statement={"x": "NEST"}, documents=[]
    )
    for depth in (100, 20_000):
        text = json.dumps(certify).replace('"NEST"', "[" * depth + "]" * depth)
        assert_refused(api, certifier, raw_envelope(text, certifier), "invalid_payload", 400)


@pytest.mark.parametrize("url", ["/api/v1/keys", "/api/v1/verifications"])
def test_20000_deep_nesting_and_huge_integers_on_json_endpoints_are_400(api, miner, auditor, url):
    party = auditor if "verifications" in url else miner
    for body in ('{"vin": ' + "[" * 20_000 + "]" * 20_000 + "}", '{"vin": ' + "1" * 5000 + "}"):
        before = ledger_snapshot()
        response = api.post(url, data=body, content_type="application/json", **party.auth)
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "invalid_payload"
        assert ledger_snapshot() == before


def test_a_nul_vin_on_post_verifications_is_400(api, auditor):
    for vin in ("\\u0000", "\\ud800", "5YJ3E1EA\\u00007KF317"):
        body = '{"vin": "' + vin + '"}'
        response = api.post("/api/v1/verifications", data=body, content_type="application/json", **auditor.auth)
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "invalid_payload"


# --- paths ---------------------------------------------------------------------


def test_nul_in_a_batch_id_or_keyid_path_is_not_found(api, ledger, miner):
    ore = ledger.origin(miner)
    for url in (
        f"/api/v1/batches/{ore}%00",
        "/api/v1/batches/%00",
        f"/api/v1/batches/{ore}%00/provenance",
        f"/api/v1/keys/{miner.keyid}%00/revoke",
        "/api/v1/keys/%00/revoke",
    ):
        response = (api.post if url.endswith("revoke") else api.get)(url, **miner.auth)
        assert response.status_code == 404, (url, response.content)
        assert response.json()["error"]["code"] == "not_found"
    assert SigningKey.objects.get(keyid=miner.keyid).revoked_at is None


# --- media type ------------------------------------------------------------------


def test_a_wrong_content_type_is_400_not_415(api, ledger, miner):
    body = sign_payload(origin_payload(ledger, miner), miner)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        before = ledger_snapshot()
        response = api.post("/api/v1/attestations", data=body, content_type=content_type, **miner.auth)
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "malformed_envelope"
        assert ledger_snapshot() == before
        key = json.dumps({"public_key": dsse.b64encode(b"\x01" * 32)})
        response = api.post("/api/v1/keys", data=key, content_type=content_type, **miner.auth)
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "invalid_payload"


# --- accepted though wrong ------------------------------------------------------------


def test_a_site_country_that_is_not_iso_3166_is_invalid_payload(api, ledger, miner):
    for country in ("ZZ", "XX", "EU", "UK"):
        payload = origin_payload(ledger, miner, site={"name": "Mine", "country": country})
        error = assert_refused(api, miner, sign_payload(payload, miner), "invalid_payload", 400)
        assert country in error["message"]
    ok = origin_payload(ledger, miner, site={"name": "Mine", "country": "GB"})
    assert post(api, miner, sign_payload(ok, miner)).status_code == 201


def test_more_mineral_kg_than_the_batch_weighs_is_invalid_payload(api, ledger, miner):
    payload = origin_payload(ledger, miner)
    payload["outputs"][0]["minerals"] = {"lithium": "100.000000001"}
    assert_refused(api, miner, sign_payload(payload, miner), "invalid_payload", 400)
    payload["outputs"][0]["minerals"] = {"lithium": "60", "cobalt": "41"}
    assert_refused(api, miner, sign_payload(payload, miner), "invalid_payload", 400)
    payload["outputs"][0]["minerals"] = {"lithium": "60", "cobalt": "40"}
    assert post(api, miner, sign_payload(payload, miner)).status_code == 201


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"])
def test_occurred_at_before_1970_is_invalid_payload(api, ledger, miner, occurred_at):
    payload = origin_payload(ledger, miner, occurred_at=occurred_at)
    error = assert_refused(api, miner, sign_payload(payload, miner), "invalid_payload", 400)
    assert "1970-01-01" in error["message"]
    ok = origin_payload(ledger, miner, occurred_at="1970-01-01T00:00:00Z")
    assert post(api, miner, sign_payload(ok, miner)).status_code == 201


# --- POST /keys ---------------------------------------------------------------------------

P = 2**255 - 19
WEAK_KEYS = {
    "all zero": bytes(32),
    "identity (order 1)": (1).to_bytes(32, "little"),
    "order 2": (P - 1).to_bytes(32, "little"),
    "order 8": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    "non-canonical y = p + 1": (P + 1).to_bytes(32, "little"),
    "non-canonical y = p": P.to_bytes(32, "little"),
}


@pytest.mark.parametrize("name", WEAK_KEYS)
def test_weak_and_non_canonical_public_keys_are_refused(api, miner, name):
    count = SigningKey.objects.count()
    body = {"public_key": base64.b64encode(WEAK_KEYS[name]).decode()}
    response = api.post("/api/v1/keys", data=body, format="json", **miner.auth)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_payload"
    assert SigningKey.objects.count() == count


def test_extra_fields_and_duplicate_keys_in_the_keys_body_are_refused(api, miner):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    good = dsse.b64encode(dsse.raw_public_key(Ed25519PrivateKey.generate()))
    count = SigningKey.objects.count()
    for body in (
        json.dumps({"public_key": good, "organization": "someone-else"}),
        f'{{"public_key": "{dsse.b64encode(bytes(32))}", "public_key": "{good}"}}',
        f'{{"public_key": "{good}", "public_key": "{good}"}}',
    ):
        response = api.post("/api/v1/keys", data=body, content_type="application/json", **miner.auth)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error"]["code"] == "invalid_payload"
    assert SigningKey.objects.count() == count
    response = api.post("/api/v1/keys", data={"public_key": good}, format="json", **miner.auth)
    assert response.status_code == 201
