"""Refuse oversized API bodies before anything reads or parses them."""

from __future__ import annotations

import io
import logging
import time

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import JsonResponse

from provenance.api.throttles import BUDGET_ATTRIBUTE, TokenRateThrottle
from provenance.errors import LedgerError

# The bodies of many envelopes: a batch submission, and its validation.
BATCH_PATHS = frozenset({"/api/v1/attestations/batch", "/api/v1/attestations/validate"})


def _limit(request) -> int:
    """A batch submission (or its validation) may carry 16 MiB; every other API body 64 KiB."""
    return settings.CAIRN_MAX_BATCH_BODY_BYTES if request.path in BATCH_PATHS else settings.CAIRN_MAX_BODY_BYTES


def _too_large(limit: int) -> JsonResponse:
    error = LedgerError("payload_too_large", f"request bodies are limited to {limit} bytes")
    return JsonResponse(error.as_body(), status=error.status)


class RequestBodyLimitMiddleware:
    """413 `payload_too_large` for API requests over CAIRN_MAX_BODY_BYTES
    (CAIRN_MAX_BATCH_BODY_BYTES for POST /attestations/batch and /validate).

    A declared Content-Length is checked without reading; a chunked body is
    read up to one byte past the limit and refused beyond it, else passed on
    as a body of known length (Django would read it as empty).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/") and request.method in {"POST", "PUT", "PATCH"}:
            limit = _limit(request)
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared > limit:
                return _too_large(limit)
            if not declared and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
                # Django reads CONTENT_LENGTH bytes, none for a chunked body:
                # read the server's decoded stream here, and hand it on sized.
                body = request.environ["wsgi.input"].read(limit + 1)
                if len(body) > limit:
                    return _too_large(limit)
                request._stream = LimitedStream(io.BytesIO(body), len(body))
                request.META["CONTENT_LENGTH"] = str(len(body))
        return self.get_response(request)


request_log = logging.getLogger("cairn.request")


class RequestLogMiddleware:
    """One JSON line per request on the `cairn.request` logger: method, path,
    status, duration in ms, and the organisation of the caller's token (or
    session), if any. Outermost, so that it times and sees every answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        if request_log.isEnabledFor(logging.INFO):
            request_log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "org": _organization(request),
                },
            )
        return response


def _organization(request) -> str | None:
    """The caller's organisation, as DRF or the session authenticated them."""
    user = getattr(request, "user", None)  # DRF sets the authenticated user on the Django request
    member = getattr(user, "member", None) if user is not None and user.is_authenticated else None
    return getattr(member, "organization_id", None)


class RateLimitHeadersMiddleware:
    """RateLimit-Limit, -Remaining and -Reset on every authenticated API
    answer (contract §5 v1.2): the token's budget as its throttle left it
    (provenance.api.throttles), or, for an answer given before the throttle
    ran (a refused permission), as it stands."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith("/api/"):
            return response
        budget = getattr(request, BUDGET_ATTRIBUTE, None)
        if budget is None and getattr(getattr(request, "auth", None), "key", None):
            budget = TokenRateThrottle().peek(request)
        if budget is not None:
            for name, value in budget.headers().items():
                response[name] = value
        return response
