"""The OpenAPI description of the API's answers that views do not state.

Every endpoint lists the contract's error body (§6) for each status it can
answer, with the codes it can give at that status as an enum, so that a
client (or a schema checker such as Schemathesis) can hold the server to it.
"""

from __future__ import annotations

import functools

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from provenance.errors import STATUS_BY_CODE

# Every authenticated endpoint can answer these.
AUTHENTICATED = ("not_authenticated", "role_not_allowed", "rate_limited")
# Every endpoint that reads a body can answer these as well.
WITH_BODY = ("payload_too_large", "invalid_payload")

_DESCRIPTIONS = {
    400: "Refused: the request is malformed or its content invalid.",
    401: "No valid `Authorization: Token <key>`.",
    403: "Not allowed for the caller.",
    404: "Not found, or not something the caller may read.",
    409: "Conflicts with the ledger as it is.",
    413: "The request body is over the limit.",
    422: "More than the batch holds.",
    429: "Too many requests for this token; see Retry-After.",
    503: "Not appended now (see Retry-After): `unavailable` stored nothing; `outcome_unknown` may have, "
    "so post the same envelope again to learn which.",
}


def errors(name: str, *codes: str) -> dict[int, OpenApiResponse]:
    """`responses` entries for `codes`, grouped by status: the contract's
    error body whose `code` is one of that status's codes.

    `name` prefixes the components (e.g. AttestationsError409).
    """
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys(codes):
        by_status.setdefault(STATUS_BY_CODE[code], []).append(code)
    return {
        status: OpenApiResponse(
            _error_serializer(f"{name}Error{status}", tuple(sorted(status_codes))),
            description=f"{_DESCRIPTIONS[status]} Codes: {', '.join(sorted(status_codes))}.",
        )
        for status, status_codes in sorted(by_status.items())
    }


@functools.cache
def _error_serializer(name: str, codes: tuple[str, ...]):
    fields: dict[str, serializers.Field] = {
        "code": serializers.ChoiceField(choices=codes),
        "message": serializers.CharField(help_text="What a person should fix."),
    }
    if "stale_head" in codes:
        fields["head"] = serializers.CharField(required=False, help_text="With stale_head: the batch's current head.")
    detail = inline_serializer(f"{name}Detail", fields)
    return inline_serializer(name, {"error": detail})


def query_integers(*names: str) -> list[OpenApiParameter]:
    """Required non-negative integer query parameters."""
    return [
        OpenApiParameter(name, {"type": "integer", "minimum": 0}, OpenApiParameter.QUERY, required=True)
        for name in names
    ]


class OrganizationTokenScheme(OpenApiAuthenticationExtension):
    """`Authorization: Token <key>` (DRF token of a user in an organisation)."""

    target_class = "provenance.api.auth.OrganizationTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")


class AppendTokenScheme(OrganizationTokenScheme):
    """The same token for POST /attestations (its lookup is remembered by the
    worker): a scheme of its own only because the class differs."""

    target_class = "provenance.api.auth.AppendTokenAuthentication"
    name = "appendTokenAuth"


class CsrfCheckedSessionScheme(SessionScheme):
    """The admin's session cookie, as DRF's session authentication (only a
    failed CSRF check answers differently: `not_authenticated`)."""

    target_class = "provenance.api.auth.CsrfCheckedSessionAuthentication"
