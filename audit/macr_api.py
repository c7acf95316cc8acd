"""§45X verdicts over the API (docs/contract-45x.md §7; audit.macr, audit.macr_bundle):

    GET  /batches/{id}/macr?year=YYYY[&sold_year=YYYY]   the unsigned preview: computed now, stored nowhere
    POST /macr-verifications {"batch", "year", "sold_year"?}   verify now: stored, signed, logged (201)
    GET  /macr-verifications/{id}                        a stored verification with its signed report
    GET  /macr-verifications/{id}/bundle                 its proof bundle, a file for `cairn-verify`

Auditors and the taxpayer (the organisation whose statement created the
batch) may ask and read; anyone else gets `not_found`, word for word what a
missing batch or verification gets, so that no one learns which batches a
taxpayer had verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from django.contrib.auth.models import User
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.gzip import gzip_page
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import macr, macr_bundle
from audit.models import MacrVerification
from cairn_core import bundle as bundles
from cairn_core.payload import BATCH_ID
from provenance.api import serializers as s
from provenance.api.permissions import IsMember, organization_of
from provenance.api.schema import AUTHENTICATED, WITH_BODY, errors
from provenance.errors import LedgerError
from provenance.models import Batch, Organization

YEAR = OpenApiParameter("year", int, required=True, description="The taxable year (four digits).")
SOLD_YEAR = OpenApiParameter(
    "sold_year", int, required=False, description="What if the batch were sold that year (four digits)."
)
READ_ERRORS = (*AUTHENTICATED, "not_found")
FIELDS = frozenset({"batch", "year", "sold_year"})


def readable_batch(organization: Organization, batch_id: str) -> Batch:
    """The batch named, if the caller may ask for its §45X verdict; `not_found` otherwise."""
    batch = Batch.objects.filter(id=batch_id).first() if BATCH_ID.match(batch_id) else None
    if batch is None or not macr.may_read(organization, batch):
        raise LedgerError("not_found", f"No batch {batch_id} whose §45X verdict you may read.")
    return batch


def readable_verification(organization: Organization, verification_id: int) -> MacrVerification:
    """The stored verification, if the caller may read it (as its batch's verdict); `not_found` otherwise."""
    found: MacrVerification | None = MacrVerification.objects.select_related("batch").filter(pk=verification_id).first()
    if found is None or not macr.may_read(organization, found.batch):
        raise LedgerError("not_found", f"No §45X verification {verification_id}.")
    return found


def body_year(body: Mapping[str, object], name: str) -> int:
    """A year of the POST body: a JSON integer from 2000 to 2100; `bad_request` otherwise."""
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 2000 <= value <= 2100:
        raise LedgerError("bad_request", f"{name} must be a year, a JSON integer from 2000 to 2100.")
    return value


def request_body(data: object) -> tuple[str, int, int | None]:
    """(batch, year, sold_year) of a POST body; `bad_request` for anything else."""
    body = cast(dict[str, object], data) if isinstance(data, dict) else {}
    batch = body.get("batch")
    if not {"batch", "year"} <= set(body) <= FIELDS or not isinstance(batch, str):
        raise LedgerError("bad_request", 'Send {"batch": "<batch id>", "year": <taxable year>, "sold_year"?: <year>}.')
    return batch, body_year(body, "year"), body_year(body, "sold_year") if "sold_year" in body else None


class BatchMacrView(APIView):
    """GET /batches/{id}/macr: the unsigned preview (nothing stored, signed or logged)."""

    permission_classes = [IsMember]

    @extend_schema(
        parameters=[YEAR, SOLD_YEAR],
        responses={
            200: s.MacrPreviewSerializer,
            **errors("BatchMacr", *AUTHENTICATED, "bad_request", "not_found", "unavailable"),
        },
    )
    def get(self, request: Request, batch_id: str) -> Response:
        batch = readable_batch(organization_of(request), batch_id)
        year = macr.year_param(request.query_params, "year")
        sold_year = macr.year_param(request.query_params, "sold_year") if "sold_year" in request.query_params else None
        return Response(s.render(s.MacrPreviewSerializer, macr.macr_verdict(batch, year, sold_year=sold_year)))


class MacrVerificationListView(APIView):
    """POST /macr-verifications {"batch", "year", "sold_year"?}: verify now and store the signed verdict."""

    permission_classes = [IsMember]

    @extend_schema(
        request=s.MacrVerificationRequestSerializer,
        responses={
            201: s.MacrVerificationSerializer,
            **errors("MacrVerifications", *AUTHENTICATED, *WITH_BODY, "bad_request", "not_found", "unavailable"),
        },
    )
    def post(self, request: Request) -> Response:
        batch_id, year, sold_year = request_body(request.data)
        batch = readable_batch(organization_of(request), batch_id)
        user = cast(User, request.user)  # IsMember: an authenticated member
        verification = macr.store_verification(batch, year, sold_year, requested_by=user)
        return Response(s.render(s.MacrVerificationSerializer, verification.as_verdict()), status=201)


class MacrVerificationDetailView(APIView):
    """GET /macr-verifications/{id}: a stored §45X verdict with its signed report."""

    permission_classes = [IsMember]

    @extend_schema(responses={200: s.MacrVerificationSerializer, **errors("MacrVerification", *READ_ERRORS)})
    def get(self, request: Request, verification_id: int) -> Response:
        verification = readable_verification(organization_of(request), verification_id)
        return Response(s.render(s.MacrVerificationSerializer, verification.as_verdict()))


@method_decorator(gzip_page, name="get")
class MacrVerificationBundleView(APIView):
    """GET /macr-verifications/{id}/bundle: the §45X proof bundle, a file for `cairn-verify`
    (gzip-encoded to clients that accept it, as §30D's)."""

    permission_classes = [IsMember]

    @extend_schema(
        responses={
            (200, bundles.MEDIA_TYPE): s.MacrBundleSerializer,
            **errors("MacrVerificationBundle", *READ_ERRORS),
        }
    )
    def get(self, request: Request, verification_id: int) -> HttpResponse:
        return macr_bundle.download(readable_verification(organization_of(request), verification_id))
