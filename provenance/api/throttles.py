"""Per-token request throttling (contract §5: at least 6,000 a minute), and
failed authentication throttled per client address."""

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from provenance.api.client_address import client_address

log = logging.getLogger(__name__)
_last_warning = 0.0


def _cache_down(exc: Exception) -> None:
    """Fail open: the throttle is a budget that protects the service, and a
    down cache must not take the service down with it. Warned once a minute."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= 60:
        _last_warning = now
        log.warning("throttle cache unavailable, requests are not throttled: %r", exc)


# Where a request's budget, as its throttle last left it, waits for the
# response (provenance.api.middleware.RateLimitHeadersMiddleware).
BUDGET_ATTRIBUTE = "cairn_rate_limit"


@dataclass(frozen=True)
class Budget:
    """The contract's RateLimit-* headers (§5 v1.2): the bucket's size, the
    requests it holds now, and the seconds until it is full again (on a
    429: until the next request fits, as Retry-After says)."""

    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


class TokenRateThrottle(SimpleRateThrottle):
    """Counts requests per API token; unauthenticated callers per address.

    A rate of N per period is a bucket of N requests that refills one every
    period / N: a token at rest may send N at once, and then one every
    period / N. So a steady client gets exactly N a period, and no period
    sees more than 2N (a full bucket plus what refills during it). The state
    is one number per token, when its bucket will be full again (the generic
    cell rate algorithm), not DRF's list of every request's time, which at
    the contract's 6,000 a minute is thousands of floats loaded and stored
    on every request.

    The number lives in Django's cache: per process with the default local
    memory cache, shared across workers when CACHE_URL names Redis. As with
    DRF's throttles, two workers reading at once may both pass: the limit
    is a budget, not a lock. When the cache cannot be reached, requests
    pass unthrottled (fail open) and a warning is logged once a minute.
    """

    scope = "token"
    # Set by SimpleRateThrottle.__init__ from the rate (the stubs leave them out).
    num_requests: int
    duration: int

    def get_ident(self, request):
        """The client's address as the trusted proxies vouch for it
        (provenance.api.client_address), not DRF's NUM_PROXIES count."""
        return client_address(request)

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        key = getattr(token, "key", None)
        # A token is a password: its digest names the key, so the token itself
        # never reaches Redis's key space, persistence files or key listings.
        ident = f"token-{token_digest(key)}" if key else f"address-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        return self.charge(request, view, 1)

    def charge(self, request, view, cost: int) -> bool:
        """Take `cost` requests from the bucket at once, or none when they do
        not fit (a batch submission costs one per envelope)."""
        if self.rate is None or cost <= 0:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        spacing = self.duration / self.num_requests
        try:
            # When the allowance is whole again, were these requests let through.
            whole_at = max(self.cache.get(self.key, now), now) + spacing * cost
            if whole_at - now > self.duration:
                self.wait_seconds = whole_at - now - self.duration
                self._record(request, Budget(self.num_requests, 0, math.ceil(self.wait_seconds)))
                return False
            self.cache.set(self.key, whole_at, math.ceil(whole_at - now))
        except Exception as exc:  # the cache is down: serve unthrottled rather than fail
            _cache_down(exc)
            whole_at = now  # unknown: answered as a full bucket
        self._record(request, self._budget(whole_at, now))
        return True

    def _budget(self, whole_at: float, now: float) -> Budget:
        """The budget of a bucket that is whole again at `whole_at`."""
        spacing = self.duration / self.num_requests
        owed = max(0.0, whole_at - now)
        remaining = min(self.num_requests, math.floor((self.duration - owed) / spacing + 1e-9))
        return Budget(self.num_requests, max(0, remaining), math.ceil(owed))

    def _record(self, request, budget: Budget) -> None:
        setattr(getattr(request, "_request", request), BUDGET_ATTRIBUTE, budget)

    def peek(self, request) -> Budget | None:
        """The budget of the request's token as it stands, charging nothing
        (an answer given before the throttle ran: a refused permission)."""
        if self.rate is None:
            return None
        now = self.timer()
        try:
            whole_at = self.cache.get(self.get_cache_key(request, None), now)
        except Exception as exc:
            _cache_down(exc)
            whole_at = now
        return self._budget(whole_at, now)

    def wait(self):
        return self.wait_seconds


def token_digest(key: str) -> str:
    """SHA-256 of an API token, in hex: the name it is counted under."""
    return hashlib.sha256(key.encode()).hexdigest()


class AuthFailureThrottle(TokenRateThrottle):
    """Failed authentications per client address (CAIRN_AUTH_FAILURE_RATE).

    provenance.api.auth asks `locked` before looking a token up and charges
    one failure after each refusal: an address that has spent its budget
    gets 429 `rate_limited` with Retry-After instead of a lookup, whatever
    token it sends, until the bucket refills (one failure every period / N).
    """

    scope = "auth_failure"

    def _record(self, request, budget: Budget) -> None:
        """Failures are counted per address, not as a token's budget: no RateLimit-* headers."""

    def get_rate(self):
        return settings.CAIRN_AUTH_FAILURE_RATE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def locked(self, request) -> bool:
        """Whether one more failure would not fit (sets `wait()` when so)."""
        if self.rate is None:
            return False
        now = self.timer()
        try:
            whole_at = self.cache.get(self.get_cache_key(request, None), now)
        except Exception as exc:  # the cache is down: fail open, as the token throttle does
            _cache_down(exc)
            return False
        spacing = self.duration / self.num_requests
        self.wait_seconds = max(whole_at, now) + spacing - now - self.duration
        return self.wait_seconds > 0
