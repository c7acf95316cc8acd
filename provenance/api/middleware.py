"""Refuse oversized API bodies before anything reads or parses them."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse

from provenance.errors import LedgerError

BATCH_PATH = "/api/v1/attestations/batch"


def _limit(request) -> int:
    """A batch submission may carry 16 MiB; every other API body 64 KiB."""
    return settings.CAIRN_MAX_BATCH_BODY_BYTES if request.path == BATCH_PATH else settings.CAIRN_MAX_BODY_BYTES


def _too_large(limit: int) -> JsonResponse:
    error = LedgerError("payload_too_large", f"request bodies are limited to {limit} bytes")
    return JsonResponse(error.as_body(), status=error.status)


class RequestBodyLimitMiddleware:
    """413 `payload_too_large` for API requests over CAIRN_MAX_BODY_BYTES
    (CAIRN_MAX_BATCH_BODY_BYTES for POST /attestations/batch).

    A declared Content-Length is checked without reading; a chunked body is
    read up to one byte past the limit and then refused.
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
            if not declared and request.META.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
                body = request.read(limit + 1)
                if len(body) > limit:
                    return _too_large(limit)
                request._body = body
        return self.get_response(request)
