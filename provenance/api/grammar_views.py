"""The statement grammar as a JSON Schema (GET /attestations/schema).

Public and cacheable: the schema is part of the distributed core
(`cairn_core.schemas`), the same for every caller and every request.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from cairn_core.schemas import attestation_schema_bytes


@require_safe
def attestation_schema(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(attestation_schema_bytes(), content_type="application/schema+json")
    response["Cache-Control"] = "public, max-age=3600"
    return response
