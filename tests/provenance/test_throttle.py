"""The per-token throttle: a burst of N, then one every period / N."""

import hashlib

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from rest_framework.request import Request

from provenance.api.throttles import TokenRateThrottle, token_digest


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def throttle(monkeypatch):
    cache.clear()
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "6/min"})
    clock = Clock()

    def make():
        throttle = TokenRateThrottle()
        throttle.timer = clock
        return throttle

    yield make, clock
    cache.clear()


def request_with(token_key: str | None):
    request = Request(RequestFactory().get("/api/v1/batches/x"))
    request._auth = type("Token", (), {"key": token_key})() if token_key else None
    return request


def allowed(make, token="t1") -> bool:
    return make().allow_request(request_with(token), None)


def test_a_burst_of_the_rate_then_refusal(throttle):
    make, clock = throttle
    assert [allowed(make) for _ in range(6)] == [True] * 6
    refused = make()
    assert refused.allow_request(request_with("t1"), None) is False
    assert refused.wait() == pytest.approx(10.0)  # one slot frees every 60 / 6 seconds


def test_the_allowance_refills_one_slot_per_spacing(throttle):
    make, clock = throttle
    for _ in range(6):
        assert allowed(make)
    clock.now += 9.9
    assert not allowed(make)
    clock.now += 0.1
    assert allowed(make)
    assert not allowed(make)
    clock.now += 60
    assert [allowed(make) for _ in range(7)] == [True] * 6 + [False]


def test_sustained_rate_is_the_rate_and_no_period_sees_twice_it(throttle):
    make, clock = throttle
    passed = []
    for step in range(600):  # a request every 0.5 s for five minutes
        clock.now = 1_000.0 + step * 0.5
        if allowed(make):
            passed.append(clock.now)
    for start in passed:
        assert sum(start <= t < start + 60 for t in passed) <= 2 * 6
    # the burst, then one every ten seconds
    assert len(passed) == 6 + 300 // 10 - 1
    assert all(b - a == 10 for a, b in zip(passed[6:], passed[7:], strict=False))


def test_tokens_have_their_own_allowance_and_state_is_one_number(throttle):
    make, clock = throttle
    for _ in range(6):
        assert allowed(make, "t1")
    assert not allowed(make, "t1")
    assert allowed(make, "t2")
    assert isinstance(cache.get("throttle_token_token-" + token_digest("t1")), float)


def test_a_token_is_counted_under_its_digest_never_its_own_text(throttle):
    make, clock = throttle
    secret = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    throttle_ = make()
    assert throttle_.allow_request(request_with(secret), None)
    assert secret not in throttle_.key
    assert throttle_.key == "throttle_token_token-" + hashlib.sha256(secret.encode()).hexdigest()


def test_refused_requests_do_not_use_the_allowance(throttle):
    make, clock = throttle
    for _ in range(6):
        assert allowed(make)
    for _ in range(50):
        assert not allowed(make)
    clock.now += 10
    assert allowed(make)


# --- RateLimit-* headers (contract §5 v1.2) ---------------------------------------


def budget_of(response) -> tuple[int, int, int]:
    return tuple(int(response[name]) for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"))


@pytest.fixture
def five_a_minute(monkeypatch):
    cache.clear()
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "5/min"})
    yield
    cache.clear()


def test_every_authenticated_answer_carries_the_tokens_budget(api, ledger, miner, auditor, five_a_minute):
    first = api.get("/api/v1/keys", **miner.auth)
    assert first.status_code == 200 and budget_of(first) == (5, 4, 12)  # one of five spent, back in 12 s
    missing = api.get("/api/v1/attestations/999999", **miner.auth)  # refused after the throttle ran
    assert missing.status_code == 404 and budget_of(missing) == (5, 3, 24)
    refused = api.post("/api/v1/verifications", data={"vin": "x"}, format="json", **miner.auth)  # before it ran
    assert refused.status_code == 403 and budget_of(refused) == (5, 3, 24)
    assert budget_of(api.get("/api/v1/keys", **auditor.auth))[:2] == (5, 4)  # another token, its own budget
    assert "RateLimit-Limit" not in api.get("/api/v1/keys")  # not authenticated: no budget to tell


def test_a_batch_costs_each_envelope_and_a_429_says_when_to_come_back(api, ledger, miner, five_a_minute):
    from tests.support import batch_body, origin_payload, sign_payload

    three = [sign_payload(origin_payload(ledger, miner, batch=f"pilbara-mining:h{n}"), miner) for n in range(3)]
    answer = api.post("/api/v1/attestations/batch", data=batch_body(*three), content_type="application/json",
                      **miner.auth)  # fmt: skip
    assert answer.status_code == 200 and budget_of(answer)[:2] == (5, 2)
    api.get("/api/v1/keys", **miner.auth)
    api.get("/api/v1/keys", **miner.auth)
    throttled = api.get("/api/v1/keys", **miner.auth)
    assert throttled.status_code == 429
    limit, remaining, reset = budget_of(throttled)
    assert (limit, remaining) == (5, 0) and 0 < reset == int(throttled["Retry-After"])
