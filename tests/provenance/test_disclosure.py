"""What a refusal tells about others' data (docs/decisions.md,
"Disclosure"): a batch never held is answered as a missing one, a head is
learnt only by its custodian or a certifier the custodian co-signed with,
and another organisation's logged envelope is answered as if not logged."""

import pytest

from tests.support import assert_refused, origin_payload, post, sign_payload

pytestmark = pytest.mark.django_db


def transfer_of(ledger, issuer, batch, to, prev="0" * 64):
    return sign_payload(ledger.statement("transfer", issuer, batch=batch, prev=prev, to=to.slug), issuer)


def certify_of(ledger, certifier, batch, prev, *cosigners):
    payload = ledger.statement(
        "certify", certifier, batch=batch, prev=prev, statement={"assay": "Li 6%"},
        documents=[{"name": "assay.pdf", "sha256": "0" * 64}],
    )  # fmt: skip
    return sign_payload(payload, certifier, *cosigners)


def test_another_organisations_batch_is_answered_as_a_missing_one(api, ledger, miner, stranger):
    ore = ledger.origin(miner)
    theirs = assert_refused(
        api, stranger, transfer_of(ledger, stranger, ore, miner, ledger.head(ore)), "unknown_batch", 404
    )
    missing = assert_refused(
        api, stranger, transfer_of(ledger, stranger, "pilbara-mining:nope", miner), "unknown_batch", 404
    )
    assert theirs["message"].replace(ore, "ID") == missing["message"].replace("pilbara-mining:nope", "ID")
    assert "head" not in theirs


def test_a_past_custodian_is_told_it_is_no_longer_the_custodian(api, ledger, miner, refiner):
    ore = ledger.origin(miner)
    ledger.transfer(miner, ore, refiner)
    assert_refused(api, miner, transfer_of(ledger, miner, ore, refiner, ledger.head(ore)), "not_custodian", 403)


def test_a_certifier_without_the_custodians_signature_learns_nothing_and_moves_no_head(api, ledger, miner, certifier):
    ore = ledger.origin(miner)
    head = ledger.head(ore)
    stale = assert_refused(api, certifier, certify_of(ledger, certifier, ore, "0" * 64), "unknown_batch", 404)
    assert "head" not in stale and head not in stale["message"]
    assert_refused(api, certifier, certify_of(ledger, certifier, ore, head), "unknown_batch", 404)
    assert ledger.head(ore) == head  # the custodian's pending statements stay valid


def test_a_certification_the_custodian_cosigned_is_logged(api, ledger, miner, certifier):
    ore = ledger.origin(miner)
    stale = assert_refused(api, certifier, certify_of(ledger, certifier, ore, "0" * 64, miner), "stale_head", 409)
    assert stale["head"] == ledger.head(ore)  # the custodian consented: it may learn the head
    response = post(api, certifier, certify_of(ledger, certifier, ore, ledger.head(ore), miner))
    assert response.status_code == 201, response.content
    assert ledger.head(ore) == response.json()["entry_hash"]


def test_another_organisations_logged_envelope_is_answered_as_if_not_logged(api, ledger, miner, refiner):
    body = sign_payload(origin_payload(ledger, miner), miner)
    not_yet = assert_refused(api, refiner, body, "issuer_mismatch", 403)
    first = post(api, miner, body)
    assert first.status_code == 201
    logged = assert_refused(api, refiner, body, "issuer_mismatch", 403)
    assert logged == not_yet
    again = post(api, miner, body)
    assert (again.status_code, again.json()) == (200, first.json())
