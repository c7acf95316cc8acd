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
from tests.provenance.test_api_attestations import assert_refused, origin_payload, post
from tests.support import sign_payload


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
