"""Verification endpoints (contract §5): auditors run and read verdicts."""

from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.gzip import gzip_page
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import bundle, consequences, engine
from audit import incidents as incident_views
from audit.models import IntegrityIncident, Verification
from cairn_core import bundle as bundles
from provenance.api import serializers as s
from provenance.api.permissions import IsAuditor
from provenance.api.schema import AUTHENTICATED, WITH_BODY, errors
from provenance.errors import LedgerError


class VerificationListView(APIView):
    """POST /verifications {"vin"}: verify the claim now and store the verdict."""

    permission_classes = [IsAuditor]

    @extend_schema(
        request=s.VerificationRequestSerializer,
        responses={
            201: s.VerdictSerializer,
            **errors("Verifications", *AUTHENTICATED, *WITH_BODY, "bad_request", "not_found"),
        },
    )
    def post(self, request):
        body = request.data
        vin = body.get("vin") if isinstance(body, dict) else None
        if not isinstance(vin, str) or not vin:
            raise LedgerError("bad_request", 'Send {"vin": "<the claimed VIN>"}.')
        verification = engine.verify_claim(vin, requested_by=request.user)
        return Response(s.render(s.VerdictSerializer, verification.as_verdict()), status=201)


class VerificationDetailView(APIView):
    """GET /verifications/{id}: a stored verdict with its signed report."""

    permission_classes = [IsAuditor]

    @extend_schema(
        responses={200: s.VerdictWithWarningsSerializer, **errors("Verification", *AUTHENTICATED, "not_found")}
    )
    def get(self, request, verification_id: int):
        verification = Verification.objects.filter(pk=verification_id).first()
        if verification is None:
            raise LedgerError("not_found", f"No verification {verification_id}.")
        body = {**verification.as_verdict(), "integrity_warnings": consequences.integrity_warnings(verification)}
        return Response(s.render(s.VerdictWithWarningsSerializer, body))


class IncidentListView(APIView):
    """GET /incidents[?state=open|acknowledged|resolved]: integrity incidents, newest first."""

    permission_classes = [IsAuditor]

    @extend_schema(
        parameters=[OpenApiParameter("state", str, enum=list(IntegrityIncident.State.values), required=False)],
        responses={200: s.IncidentListSerializer, **errors("Incidents", *AUTHENTICATED, "bad_request")},
    )
    def get(self, request):
        state = request.query_params.get("state")
        if state is not None and state not in IntegrityIncident.State.values:
            raise LedgerError("bad_request", "state must be one of open, acknowledged, resolved.")
        incidents = [incident.as_api() for incident in incident_views.listed(state)]
        return Response(s.render(s.IncidentListSerializer, {"incidents": incidents}))


@method_decorator(gzip_page, name="get")
class VerificationBundleView(APIView):
    """GET /verifications/{id}/bundle: the proof bundle (contract §8), a file for `cairn-verify`.

    Sent gzip-encoded to clients that accept it: the signed envelopes it
    carries compress about tenfold.
    """

    permission_classes = [IsAuditor]

    @extend_schema(
        responses={
            (200, bundles.MEDIA_TYPE): s.BundleSerializer,
            **errors("VerificationBundle", *AUTHENTICATED, "not_found"),
        }
    )
    def get(self, request, verification_id: int):
        verification = Verification.objects.filter(pk=verification_id).first()
        if verification is None:
            raise LedgerError("not_found", f"No verification {verification_id}.")
        return bundle.download(verification)
