"""POST/GET /api/v1/attestations: every error code of contract §6, each
refusal leaving the ledger exactly as it was."""

import base64
import datetime as dt
import json

import pytest
from django.core.cache import cache

from provenance import tlog
from provenance.api.throttles import TokenRateThrottle
from provenance.models import Entry, EntryType
from tests.support import Ledger, assert_refused, make_party, origin_payload, post, sign_payload

URL = "/api/v1/attestations"


def test_post_returns_the_receipt_and_repost_the_same_body(api, ledger, miner):
    body = sign_payload(origin_payload(ledger, miner), miner)
    size = tlog.current_size()  # the personas' ledger entries (contract §12) come first
    first = post(api, miner, body)
    assert first.status_code == 201
    entry = Entry.objects.exclude(type=EntryType.LEDGER).get()
    assert first.json() == {
        "index": size,
        "entry_hash": entry.entry_hash,
        "integrated_time": entry.integrated_time,
        "leaf_hash": entry.leaf_hash,
    }
    again = post(api, miner, body)
    assert again.status_code == 200 and again.json() == first.json()


def test_get_attestation_shows_envelope_and_cosigners_to_named_orgs_only(
    api, ledger, miner, refiner, stranger, auditor
):
    ore = ledger.origin(miner)
    result = ledger.transfer(miner, ore, refiner, cosign=True)
    for reader in (miner, refiner, auditor):
        response = api.get(f"{URL}/{result.entry.index}", **reader.auth)
        assert response.status_code == 200
        body = response.json()
        assert body["cosigners"] == [refiner.slug]
        assert body["entry_hash"] == result.entry.entry_hash
        assert body["envelope"]["payloadType"] == "application/vnd.cairn.attestation+json"
    hidden = api.get(f"{URL}/{result.entry.index}", **stranger.auth)
    missing = api.get(f"{URL}/999", **stranger.auth)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"


def test_payload_too_large(api, miner):
    assert_refused(api, miner, b"{" + b" " * (64 * 1024) + b"}", "payload_too_large", 413)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"payloadType": "x", "payload": "e30="}',
        b'{"payloadType": "application/vnd.cairn.attestation+json", "payload": "e30=", "signatures": []}',
        b'{"payloadType": "application/vnd.cairn.attestation+json", "payload": "%%%", '
        b'"signatures": [{"keyid": "k", "sig": "AA=="}]}',
    ],
    ids=["not-json", "array", "no-signatures", "empty-signatures", "bad-base64"],
)
def test_malformed_envelope(api, miner, body):
    assert_refused(api, miner, body, "malformed_envelope", 400)


def test_unsupported_payload_type(api, miner):
    body = {"payloadType": "application/json", "payload": "e30=", "signatures": [{"keyid": "k", "sig": "AA=="}]}
    assert_refused(api, miner, json.dumps(body).encode(), "unsupported_payload_type", 400)


def test_invalid_payload(api, ledger, miner):
    payload = origin_payload(ledger, miner, color="blue")
    assert_refused(api, miner, sign_payload(payload, miner), "invalid_payload", 400)
    payload = origin_payload(ledger, miner)
    payload["outputs"][0]["minerals"] = {"unobtainium": "1"}
    error = assert_refused(api, miner, sign_payload(payload, miner), "invalid_payload", 400)
    assert "unobtainium" in error["message"]
    # The message says where the names are, and lists them.
    assert "GET /api/v1/critical-minerals" in error["message"]
    assert "cobalt, dysprosium, erbium" in error["message"] and "lithium" in error["message"]
    transfer = ledger.statement("transfer", miner, batch="pilbara-mining:x", prev="a" * 64, to="nobody-here")
    assert_refused(api, miner, sign_payload(transfer, miner), "invalid_payload", 400)


def test_unknown_key_and_bad_signature(api, ledger, miner):
    body = json.loads(sign_payload(origin_payload(ledger, miner), miner))
    body["signatures"][0]["keyid"] = "0" * 64
    assert_refused(api, miner, json.dumps(body).encode(), "unknown_key", 400)
    body = json.loads(sign_payload(origin_payload(ledger, miner), miner))
    sig = bytearray(base64.b64decode(body["signatures"][0]["sig"]))
    sig[0] ^= 1
    body["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    assert_refused(api, miner, json.dumps(body).encode(), "bad_signature", 400)


def test_key_not_valid_after_revocation(api, ledger, miner):
    response = api.post(f"/api/v1/keys/{miner.keyid}/revoke", **miner.auth)
    assert response.status_code == 200 and response.json()["revoked_at"]
    assert_refused(api, miner, sign_payload(origin_payload(ledger, miner), miner), "key_not_valid", 403)


def test_issuer_mismatch(api, ledger, miner, stranger):
    # posted by another organisation than the payload's issuer
    assert_refused(api, stranger, sign_payload(origin_payload(ledger, miner), miner), "issuer_mismatch", 403)
    # issuer posts, but no signature is the issuer's
    assert_refused(api, miner, sign_payload(origin_payload(ledger, miner), stranger), "issuer_mismatch", 403)


def test_role_not_allowed(api, ledger, maker, auditor):
    # a manufacturer cannot mine; an auditor cannot post at all
    payload = origin_payload(ledger, maker, batch="detroit-cells:ore")
    assert_refused(api, maker, sign_payload(payload, maker), "role_not_allowed", 403)
    assert_refused(api, auditor, sign_payload(payload, maker), "role_not_allowed", 403)


def test_forbidden_batch_prefix(api, ledger, miner):
    payload = origin_payload(ledger, miner, batch="kansai-refining:ore-1")
    assert_refused(api, miner, sign_payload(payload, miner), "forbidden", 403)


def test_unknown_batch_and_batch_exists(api, ledger, miner, refiner):
    transfer = ledger.statement("transfer", miner, batch="pilbara-mining:ghost", prev="a" * 64, to=refiner.slug)
    assert_refused(api, miner, sign_payload(transfer, miner), "unknown_batch", 404)
    ledger.origin(miner, batch="pilbara-mining:ore-9")
    recycled = origin_payload(ledger, miner, activity="recycling")
    assert_refused(api, miner, sign_payload(recycled, miner), "batch_exists", 409)


def test_not_custodian_stale_head_overdraw_vin_claimed(api, ledger, miner, refiner, maker):
    ore = ledger.origin(miner, quantity="10")
    transfer = ledger.statement("transfer", refiner, batch=ore, prev=ledger.head(ore), to=maker.slug)
    # refiner never held the batch: answered as a missing one (docs/decisions.md, "Disclosure")
    assert_refused(api, refiner, sign_payload(transfer, refiner), "unknown_batch", 404)
    stale = ledger.statement("transfer", miner, batch=ore, prev="b" * 64, to=refiner.slug)
    error = assert_refused(api, miner, sign_payload(stale, miner), "stale_head", 409)
    assert error["head"] == ledger.head(ore)
    greedy = ledger.statement(
        "transform",
        miner,
        activity="processing",
        site={"name": "p", "country": "AU"},
        inputs=[{"batch": ore, "prev": ledger.head(ore), "quantity": "11"}],
        outputs=[{"batch": "pilbara-mining:c", "material": "m", "quantity": "1", "unit": "kg", "value_added_usd": "1"}],
    )
    assert_refused(api, miner, sign_payload(greedy, miner), "overdraw", 422)
    ledger.transfer(miner, ore, maker)
    (pack,) = ledger.transform(
        maker, [(ore, "5")], [{"quantity": "2", "unit": "unit", "component": "battery_pack"}], activity="assembly"
    )
    ledger.claim(maker, pack, "5YJ3E1EA7KF317000")
    claim = ledger.statement(
        "claim",
        maker,
        batch=pack,
        prev=ledger.head(pack),
        quantity="1",
        vin="5YJ3E1EA7KF317000",
        acquired="2024-01-02",
        placed_in_service="2024-01-03",
        final_assembly={"name": "a", "country": "US"},
    )
    assert_refused(api, maker, sign_payload(claim, maker), "vin_claimed", 409)


def test_clock_skew(api, miner):
    skewed = Ledger(now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert_refused(api, miner, sign_payload(origin_payload(skewed, miner), miner), "clock_skew", 400)


def test_duplicate_statement(api, ledger, miner, refiner):
    payload = origin_payload(ledger, miner)
    assert post(api, miner, sign_payload(payload, miner)).status_code == 201
    assert_refused(api, miner, sign_payload(payload, miner, refiner), "duplicate_statement", 409)


def test_not_authenticated(api, ledger, miner):
    assert_refused(api, None, sign_payload(origin_payload(ledger, miner), miner), "not_authenticated", 401)
    response = api.post(URL, data=b"{}", content_type="application/json", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_rate_limited_per_token(api, ledger, miner, refiner, monkeypatch):
    cache.clear()
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "2/min"})
    for _ in range(2):
        assert api.get(f"{URL}/0", **miner.auth).status_code == 404
    response = api.get(f"{URL}/0", **miner.auth)
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
    assert 0 < int(response["Retry-After"]) <= 30  # one request frees every 30 s
    # another token has its own budget
    assert api.get(f"{URL}/0", **refiner.auth).status_code == 404
    assert_refused(api, miner, sign_payload(origin_payload(ledger, miner), miner), "rate_limited", 429)


def test_default_throttle_allows_at_least_6000_a_minute():
    rate = TokenRateThrottle().get_rate()
    count, period = rate.split("/")
    assert int(count) >= 6000 and period.startswith("m")


def test_paths_have_no_trailing_slash(api, miner):
    response = api.post(URL + "/", data=b"{}", content_type="application/json", **miner.auth)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert "paths have no trailing slash (/api/v1/attestations)" in response.json()["error"]["message"]
    missing = api.get("/api/v1/nothing-here").json()["error"]
    assert missing["code"] == "not_found"
    assert "trailing slash" not in missing["message"]  # it has none
    assert "/api/docs/" in missing["message"]
    assert "trailing slash" not in api.get("/api/v1/nothing-here/").json()["error"]["message"]  # not the fault


def test_every_code_in_contract_has_its_status():
    from provenance.errors import STATUS_BY_CODE

    expected = {
        "malformed_envelope": 400,
        "unsupported_payload_type": 400,
        "invalid_payload": 400,
        "bad_signature": 400,
        "unknown_key": 400,
        "clock_skew": 400,
        "not_authenticated": 401,
        "key_not_valid": 403,
        "issuer_mismatch": 403,
        "not_custodian": 403,
        "role_not_allowed": 403,
        "forbidden": 403,
        "unknown_batch": 404,
        "not_found": 404,
        "stale_head": 409,
        "batch_exists": 409,
        "vin_claimed": 409,
        "duplicate_statement": 409,
        "payload_too_large": 413,
        "overdraw": 422,
        "rate_limited": 429,
    }
    assert {code: STATUS_BY_CODE[code] for code in expected} == expected


def test_another_organisation_key_cannot_be_registered_twice(api, miner, stranger):
    from provenance.models import SigningKey

    public_key = base64.b64encode(bytes(SigningKey.objects.get(keyid=miner.keyid).public_key)).decode()
    again = api.post("/api/v1/keys", {"public_key": public_key}, format="json", **miner.auth)
    assert again.status_code == 200 and again.json()["keyid"] == miner.keyid
    other = api.post("/api/v1/keys", {"public_key": public_key}, format="json", **stranger.auth)
    assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
    bad = api.post("/api/v1/keys", {"public_key": "AAAA"}, format="json", **miner.auth)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_payload"


def test_new_key_is_created_with_its_keyid(api, stranger):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cairn_core import dsse

    raw = dsse.raw_public_key(Ed25519PrivateKey.generate())
    response = api.post("/api/v1/keys", {"public_key": base64.b64encode(raw).decode()}, format="json", **stranger.auth)
    assert response.status_code == 201 and response.json()["keyid"] == dsse.keyid_for(raw)
    revoke = api.post(f"/api/v1/keys/{dsse.keyid_for(raw)}/revoke", **make_party("third-party", ["supplier"]).auth)
    assert revoke.status_code == 404
