"""One exception handler: every refusal is the contract's error body (§6)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from provenance.errors import LedgerError

# DRF's own exceptions, mapped onto the contract's codes.
DRF_CODES = [
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "not_authenticated"),
    (exceptions.PermissionDenied, "role_not_allowed"),
    (exceptions.NotFound, "not_found"),
    (exceptions.Throttled, "rate_limited"),
    (exceptions.ParseError, "invalid_payload"),
    (exceptions.UnsupportedMediaType, "malformed_envelope"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.ValidationError, "bad_request"),
]


def _message(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        return "; ".join(
            f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}" for key, value in detail.items()
        )
    if isinstance(detail, list):
        return " ".join(map(str, detail))
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, LedgerError):
        return Response(exc.as_body(), status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((code for kind, code in DRF_CODES if isinstance(exc, kind)), "bad_request")
    body = {"error": {"code": code, "message": _message(exc)}}
    response.data = body
    return response
