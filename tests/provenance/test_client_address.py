"""Who the client is: the peer, or what the trusted proxies vouch for; and the
throttles that count by it (anonymous requests, failed authentications)."""

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from provenance.api.client_address import client_address_from
from provenance.api.throttles import AuthFailureThrottle, TokenRateThrottle

PROXY = ["127.0.0.1", "::1", "10.0.0.0/8"]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "client"),
    [
        # No proxy configured: the header is the client's word, ignored.
        ("198.51.100.9", "203.0.113.7", [], "198.51.100.9"),
        # A client reaching gunicorn directly cannot claim another address.
        ("198.51.100.9", "203.0.113.7", PROXY, "198.51.100.9"),
        # Through the proxy: the hop it appended is the client.
        ("127.0.0.1", "198.51.100.9", PROXY, "198.51.100.9"),
        # A spoofed hop left of what the proxy appended proves nothing.
        ("127.0.0.1", "203.0.113.7, 198.51.100.9", PROXY, "198.51.100.9"),
        ("127.0.0.1", "127.0.0.1, 198.51.100.9", PROXY, "198.51.100.9"),
        # Two trusted hops (a load balancer in 10/8, then nginx): counted both.
        ("127.0.0.1", "203.0.113.7, 198.51.100.9, 10.1.2.3", PROXY, "198.51.100.9"),
        # Only trusted hops: the leftmost is the nearest to the client known.
        ("127.0.0.1", "10.1.2.3", PROXY, "10.1.2.3"),
        ("127.0.0.1", "", PROXY, "127.0.0.1"),
        # Garbage written where a proxy should have written an address.
        ("127.0.0.1", "203.0.113.7, not-an-address", PROXY, "127.0.0.1"),
        ("::1", "2001:db8::5", PROXY, "2001:db8::5"),
        ("::ffff:127.0.0.1", "198.51.100.9", PROXY, "198.51.100.9"),
    ],
)
def test_the_client_is_the_rightmost_hop_no_trusted_proxy_wrote(peer, forwarded_for, trusted, client):
    assert client_address_from(peer, forwarded_for, trusted) == client


@pytest.fixture
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def behind_proxy(settings):
    settings.CAIRN_TRUSTED_PROXIES = PROXY


URL = "/api/v1/log/key"  # public
AUTH_URL = "/api/v1/attestations/0"  # a token's caller gets 404: no entry 0 here


def test_a_spoofed_forwarded_for_does_not_buy_a_new_anonymous_allowance(api, fresh_cache, monkeypatch):
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/min"})
    answers = [
        api.get(URL, REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(5)
    ]
    assert answers == [200, 200, 200, 429, 429]
    assert api.get(URL, REMOTE_ADDR="198.51.100.10").status_code == 200  # another client


def test_behind_the_proxy_each_client_has_its_own_allowance(api, fresh_cache, behind_proxy, monkeypatch):
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "2/min"})

    def get(hops: str) -> int:
        return api.get(URL, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=hops).status_code

    assert [get("198.51.100.9") for _ in range(3)] == [200, 200, 429]
    # Spoofing a hop left of the proxy's does not reset it.
    assert get("203.0.113.1, 198.51.100.9") == 429
    assert get("198.51.100.10") == 200


def test_failed_authentication_is_throttled_per_address(api, fresh_cache, behind_proxy, miner, settings):
    settings.CAIRN_AUTH_FAILURE_RATE = "3/min"
    guesser = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.9"}
    bad = {"HTTP_AUTHORIZATION": "Token " + "0" * 40}
    statuses = [api.get(AUTH_URL, **guesser, **bad).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    refused = api.get(AUTH_URL, **guesser, **bad)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused["Retry-After"]) <= 20  # one failure frees every 20 s
    # Changing the spoofable part of the header changes nothing.
    spoofed = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.1, 198.51.100.9"}
    assert api.get(AUTH_URL, **spoofed, **bad).status_code == 429
    # Even a right token waits: answering it would confirm a guess.
    assert api.get(AUTH_URL, **guesser, **miner.auth).status_code == 429
    # Another address, with the right token or a wrong one, is not locked.
    neighbour = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.10"}
    assert api.get(AUTH_URL, **neighbour, **miner.auth).status_code == 404
    assert api.get(AUTH_URL, **neighbour, **bad).status_code == 401


def test_failed_authentication_is_throttled_on_the_append_path(api, fresh_cache, miner, settings):
    settings.CAIRN_AUTH_FAILURE_RATE = "2/min"
    bad = {"HTTP_AUTHORIZATION": "Token " + "f" * 40}
    post = [api.post("/api/v1/attestations", data=b"{}", content_type="application/json", **bad) for _ in range(3)]
    assert [answer.status_code for answer in post] == [401, 401, 429]
    assert post[2].json()["error"]["code"] == "rate_limited" and post[2]["Retry-After"]


def test_successful_authentication_spends_nothing(api, fresh_cache, miner, settings):
    settings.CAIRN_AUTH_FAILURE_RATE = "1/min"
    for _ in range(5):
        assert api.get(AUTH_URL, **miner.auth).status_code == 404
    assert not AuthFailureThrottle().locked(api.get(AUTH_URL).wsgi_request)


def test_no_token_reaches_a_cache_key_name(api, fresh_cache, miner, settings):
    seen: list[str] = []
    real_set = cache.set

    def recording_set(key, *args, **kwargs):
        seen.append(key)
        return real_set(key, *args, **kwargs)

    token = miner.token
    assert Token.objects.filter(key=token).exists()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cache, "set", recording_set)
        assert api.get(AUTH_URL, **miner.auth).status_code == 404
        api.get(AUTH_URL, HTTP_AUTHORIZATION="Token " + "e" * 40)
    assert seen and all(token not in key and "e" * 40 not in key for key in seen)
