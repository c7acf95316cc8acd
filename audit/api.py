"""Verification endpoints (contract §5): auditors run and read verdicts."""

from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.gzip import gzip_page
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import bundle, engine
from audit.models import Verification
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
        return Response(verification.as_verdict(), status=201)


class VerificationDetailView(APIView):
    """GET /verifications/{id}: a stored verdict with its signed report."""

    permission_classes = [IsAuditor]

    @extend_schema(responses={200: s.VerdictSerializer, **errors("Verification", *AUTHENTICATED, "not_found")})
    def get(self, request, verification_id: int):
        verification = Verification.objects.filter(pk=verification_id).first()
        if verification is None:
            raise LedgerError("not_found", f"No verification {verification_id}.")
        return Response(verification.as_verdict())


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
