"""Per-token request throttling (contract §5: at least 6,000 a minute)."""

from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    """Counts requests per API token; unauthenticated callers per address.

    Counters live in Django's cache: per process with the default local
    memory cache, shared across workers when CACHE_URL names Redis.
    """

    scope = "token"

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        ident = getattr(token, "key", None) or self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
