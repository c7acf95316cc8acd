"""POST /api/v1/attestations/validate (contract §5 v1.2): what the batch
endpoint (§9) would answer for the same body against the ledger as it
stands, with nothing stored; a would-be 201 is {"status": 201, "entry_hash"}."""

import threading

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from provenance.api.throttles import TokenRateThrottle
from provenance.models import LogState
from tests.provenance.batch_cases import REFUSALS, entry_hash_of, first_payload, flipped_signature
from tests.support import batch_body, ledger_snapshot, origin_payload, post_batch, results, sign_payload

URL = "/api/v1/attestations/validate"


def post_validate(api, party, body: bytes):
    return api.post(URL, data=body, content_type="application/json", **(party.auth if party else {}))


def as_validated(batch_results: list[dict]) -> list[dict]:
    """The batch endpoint's results as validation answers them: a 201 is its entry hash."""
    return [{"status": 201, "entry_hash": r["entry"]["entry_hash"]} if r["status"] == 201 else r for r in batch_results]


def mixed_body(ledger, miner, refiner) -> tuple[bytes, list[bytes]]:
    """A good origin, one with a bad signature, a transfer on an unknown
    prev, and a chained pair: an origin and its transfer, prev the origin's
    entry hash (only the ledger the body's first part would leave has it)."""
    good = sign_payload(origin_payload(ledger, miner, batch="pilbara-mining:good"), miner)
    bad = flipped_signature(sign_payload(origin_payload(ledger, miner, batch="pilbara-mining:bad"), miner))
    stale = sign_payload(
        ledger.statement("transfer", miner, batch="pilbara-mining:good", prev="d" * 64, to=refiner.slug), miner
    )
    chained = sign_payload(origin_payload(ledger, miner, batch="pilbara-mining:chained"), miner)
    onward = sign_payload(
        ledger.statement(
            "transfer", miner, batch="pilbara-mining:chained", prev=entry_hash_of(chained), to=refiner.slug
        ),
        miner,
    )
    envelopes = [good, bad, stale, chained, onward]
    return batch_body(*envelopes), envelopes


def assert_parity(api, miner, body: bytes) -> list[dict]:
    """Validate stores nothing and answers what the batch then answers."""
    before = ledger_snapshot()
    validated = results(post_validate(api, miner, body))
    assert ledger_snapshot() == before
    appended = results(post_batch(api, miner, body))
    assert validated == as_validated(appended)
    return validated


def test_a_mixed_body_is_answered_as_the_batch_would_and_nothing_is_stored(api, ledger, miner, refiner):
    body, envelopes = mixed_body(ledger, miner, refiner)
    validated = assert_parity(api, miner, body)
    assert [r["status"] for r in validated] == [201, 400, 409, 201, 201]
    assert validated[0] == {"status": 201, "entry_hash": entry_hash_of(envelopes[0])}
    assert validated[1]["error"]["code"] == "bad_signature"
    assert validated[2]["error"]["code"] == "stale_head"
    assert validated[4] == {"status": 201, "entry_hash": entry_hash_of(envelopes[4])}


def test_a_body_already_logged_is_answered_with_its_entries(api, ledger, miner, refiner):
    body, _ = mixed_body(ledger, miner, refiner)
    appended = results(post_batch(api, miner, body))
    before = ledger_snapshot()
    validated = results(post_validate(api, miner, body))
    assert ledger_snapshot() == before
    assert validated == results(post_batch(api, miner, body))  # 200 with each entry, the same refusals
    assert validated[0] == {"status": 200, "entry": appended[0]["entry"]}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_every_refusal_is_the_batchs(api, ledger, miner, refiner, world, case):
    first = sign_payload(first_payload(ledger, miner), miner)
    middle = REFUSALS[case][1](ledger, miner, refiner, world)
    last = sign_payload(origin_payload(ledger, miner, batch="pilbara-mining:last"), miner)
    validated = assert_parity(api, miner, batch_body(first, middle, last))
    assert validated[1]["error"]["code"] == case.split("-")[0]


def test_a_bad_body_is_invalid_payload(api, ledger, miner):
    before = ledger_snapshot()
    response = post_validate(api, miner, b'{"envelopes": []}')
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_payload"
    assert ledger_snapshot() == before


def test_roles_authentication_and_throttle_are_those_of_a_post(api, ledger, miner, auditor, monkeypatch):
    body = batch_body(sign_payload(origin_payload(ledger, miner), miner))
    assert post_validate(api, None, body).json()["error"]["code"] == "not_authenticated"
    wrong_role = post_validate(api, auditor, body)
    assert wrong_role.status_code == 403 and wrong_role.json()["error"]["code"] == "role_not_allowed"
    cache.clear()
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "5/min"})
    six = [sign_payload(origin_payload(ledger, miner, batch=f"pilbara-mining:v{n}"), miner) for n in range(6)]
    refused = post_validate(api, miner, batch_body(*six))
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert [r["status"] for r in results(post_validate(api, miner, batch_body(*six[:4])))] == [201] * 4
    cache.clear()


# --- outside a caller's transaction: the snapshot path ----------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_parity_in_a_transaction_of_its_own(api, ledger, miner, refiner):
    body, _ = mixed_body(ledger, miner, refiner)
    assert not connection.in_atomic_block
    assert [r["status"] for r in assert_parity(api, miner, body)] == [201, 400, 409, 201, 201]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are a PostgreSQL matter")
def test_validation_does_not_wait_for_the_logs_tail_lock(api, ledger, miner, refiner):
    """A writer holding the tail lock neither delays validation nor is delayed by it."""
    body, _ = mixed_body(ledger, miner, refiner)
    locked, release = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                LogState.objects.select_for_update().get(id=1)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert locked.wait(10)
        validated = results(post_validate(api, miner, body))
        assert [r["status"] for r in validated] == [201, 400, 409, 201, 201]
    finally:
        release.set()
        thread.join(30)


def test_the_openapi_schema_describes_the_endpoint():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/attestations/validate"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BatchSubmission"
    }
    result = schema["components"]["schemas"]["ValidationResult"]["properties"]
    assert set(result) == {"status", "entry_hash", "entry", "error"}
