"""One exception handler: every refusal is the contract's error body (§6)."""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django.views.defaults import bad_request as default_bad_request
from django.views.defaults import page_not_found
from django.views.defaults import server_error as default_server_error
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
        refusal = Response(exc.as_body(), status=exc.status)
        if exc.status == 503:
            refusal["Retry-After"] = "1"
        return refusal
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((code for kind, code in DRF_CODES if isinstance(exc, kind)), "bad_request")
    if isinstance(exc, exceptions.UnsupportedMediaType):
        # Contract §6: a body that is not a JSON envelope is a 400, not HTTP's 415.
        response.status_code = 400
        view = context.get("view")
        if not getattr(view, "takes_envelope", False):
            code = "invalid_payload"
    body = {"error": {"code": code, "message": _message(exc)}}
    response.data = body
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/v1/")


def _answers_json(request) -> bool:
    """The API's clients, and the load balancers asking /health, read JSON."""
    return request.path.startswith("/api/") or request.path == "/health"


def bad_request(request, exception=None):
    """400 for what Django refuses before any view (a Host header not in
    ALLOWED_HOSTS, another suspicious request): the contract's error body
    (§6) for the API and /health, Django's page for the admin's browsers.
    Nothing of the request is read or stored."""
    if not _answers_json(request):
        return default_bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        message = "The Host header names no host this server answers for (ALLOWED_HOSTS); send the service's own name."
    else:
        message = "The request was refused as malformed or suspicious."
    return JsonResponse({"error": {"code": "bad_request", "message": message}}, status=400)


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def not_found_message(path: str) -> str:
    """Names the trailing slash only when it is what is wrong."""
    if path.endswith("/") and path != "/" and _resolves(path.rstrip("/")):
        return f"No endpoint {path}: paths have no trailing slash ({path.rstrip('/')})."
    return f"No endpoint {path}; the endpoints are listed at /api/docs/."


def not_found(request, exception=None):
    """404 for any URL; under /api/v1/ in the contract's error body."""
    if _is_api(request):
        error = LedgerError("not_found", not_found_message(request.path))
        return JsonResponse(error.as_body(), status=404)
    return page_not_found(request, exception)


def server_error(request):
    """500; under /api/v1/ as a JSON error body, nothing stored."""
    if _is_api(request):
        # Honest about what is known: a write is all-or-nothing, but whether
        # it committed before the failure is not known here.
        body = {
            "error": {
                "code": "server_error",
                "message": "Cairn failed to answer this request (the failure is logged). Writes are "
                "all-or-nothing; post the same request again to learn its outcome.",
            }
        }
        return JsonResponse(body, status=500)
    return default_server_error(request)
