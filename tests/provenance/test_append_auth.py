"""POST /attestations remembers a token's lookup for a few seconds in the
web worker, and the append checks the token again: whatever the worker
remembers, a revoked token, a deactivated or moved user, or a withdrawn role
is refused by the next append, and nothing is stored."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from provenance.api import auth
from provenance.models import Member
from tests.support import assert_refused, origin_payload, post, sign_payload


@pytest.fixture(autouse=True)
def empty_cache():
    auth._append_auth_cache.clear()
    yield
    auth._append_auth_cache.clear()


def remembered(api, ledger, miner):
    """Post once so that the worker remembers miner's token."""
    assert (
        post(api, miner, sign_payload(origin_payload(ledger, miner, batch=f"{miner.slug}:first"), miner)).status_code
        == 201
    )
    assert miner.token in auth._append_auth_cache


def token_lookups(api, party, body) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert post(api, party, body).status_code == 201
    return sum("authtoken_token" in query["sql"] for query in queries.captured_queries)


def test_the_lookup_is_remembered_and_the_append_checks_the_token_again(api, ledger, miner):
    first = sign_payload(origin_payload(ledger, miner, batch=f"{miner.slug}:first"), miner)
    assert token_lookups(api, miner, first) == 2  # authentication, then the append's check
    second = sign_payload(origin_payload(ledger, miner, batch=f"{miner.slug}:second"), miner)
    assert token_lookups(api, miner, second) == 1  # the append's check only


def test_a_deleted_token_is_refused_by_the_append(api, ledger, miner):
    remembered(api, ledger, miner)
    Token.objects.filter(key=miner.token).delete()
    body = sign_payload(origin_payload(ledger, miner, batch=f"{miner.slug}:after"), miner)
    assert_refused(api, miner, body, "not_authenticated", 401)


def test_a_deactivated_user_is_refused_by_the_append(api, ledger, miner):
    remembered(api, ledger, miner)
    get_user_model().objects.filter(auth_token__key=miner.token).update(is_active=False)
    body = sign_payload(origin_payload(ledger, miner, batch=f"{miner.slug}:after"), miner)
    assert_refused(api, miner, body, "not_authenticated", 401)


def test_a_withdrawn_role_is_refused_by_the_append(api, ledger, miner):
    remembered(api, ledger, miner)
    miner.org.roles = ["certifier"]
    miner.org.save(update_fields=["roles"])
    body = sign_payload(origin_payload(ledger, miner, batch=f"{miner.slug}:after"), miner)
    assert_refused(api, miner, body, "role_not_allowed", 403)


def test_a_user_moved_to_another_organisation_posts_for_it_from_then_on(api, ledger, miner, refiner):
    remembered(api, ledger, miner)
    Member.objects.filter(user__auth_token__key=miner.token).update(organization=refiner.org)
    body = sign_payload(origin_payload(ledger, miner, batch=f"{miner.slug}:after"), miner)
    assert_refused(api, miner, body, "issuer_mismatch", 403)


def test_nothing_is_remembered_when_the_cache_is_off(api, ledger, miner, settings):
    settings.CAIRN_APPEND_AUTH_CACHE_SECONDS = 0
    assert post(api, miner, sign_payload(origin_payload(ledger, miner), miner)).status_code == 201
    assert auth._append_auth_cache == {}


@pytest.mark.parametrize("revoke", ["delete-token", "deactivate-user"])
def test_a_batch_with_a_token_gone_is_one_401_and_stores_nothing(api, ledger, miner, revoke):
    from tests.support import batch_body, ledger_snapshot, post_batch

    remembered(api, ledger, miner)
    if revoke == "delete-token":
        Token.objects.filter(key=miner.token).delete()
    else:
        get_user_model().objects.filter(auth_token__key=miner.token).update(is_active=False)
    bodies = [sign_payload(origin_payload(ledger, miner, batch=f"{miner.slug}:b{n}"), miner) for n in range(3)]
    before = ledger_snapshot()
    response = post_batch(api, miner, batch_body(*bodies))
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "not_authenticated"
    assert ledger_snapshot() == before
    assert miner.token not in auth._append_auth_cache  # the next request is refused at authentication


@pytest.mark.parametrize("path", ["/api/v1/attestations", "/api/v1/attestations/batch", "/api/v1/keys"])
def test_a_session_write_failing_its_csrf_check_is_not_authenticated(ledger, miner, path):
    """A logged-in member's browser session without its CSRF token: 401
    not_authenticated (the contract's code for no valid credentials), not
    role_not_allowed; with the token the same session may write."""
    from django.test import Client

    from tests.support import ledger_snapshot

    user = Token.objects.get(key=miner.token).user
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    body = sign_payload(origin_payload(ledger, miner, batch=f"{miner.slug}:csrf"), miner)
    if path.endswith("batch"):
        body = b'{"envelopes": [' + body + b"]}"
    before = ledger_snapshot()
    refused = browser.post(path, data=body, content_type="application/json")
    assert refused.status_code == 401, refused.content
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert "CSRF" in refused.json()["error"]["message"]
    assert ledger_snapshot() == before
