"""Ledger endpoints (contract §5). Each view checks who is calling, calls the
domain, and renders what it returns; errors are LedgerError."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from cairn_core import epcis as epcis_mapping
from cairn_core.payload import BATCH_ID, HEX64
from provenance import epcis, keys, selectors
from provenance.api import read_views
from provenance.api import serializers as s
from provenance.api.auth import AppendTokenAuthentication, CsrfCheckedSessionAuthentication, forget_token
from provenance.api.permissions import IsMember, IsWriter, organization_of
from provenance.api.schema import AUTHENTICATED, WITH_BODY, errors
from provenance.api.throttles import TokenRateThrottle
from provenance.append import batch_body, checks
from provenance.append.pending import Outcome
from provenance.errors import LedgerError
from provenance.models import Batch, Entry

EPCIS_MEDIA_TYPE = epcis_mapping.MEDIA_TYPE
READ_ERRORS = (*AUTHENTICATED, "not_found")
LIST_ERRORS = (*AUTHENTICATED, "bad_request")  # a list is never not_found: it lists what may be read
APPEND_ERRORS = (
    *AUTHENTICATED,
    *WITH_BODY,
    "malformed_envelope",
    "unsupported_payload_type",
    "bad_signature",
    "unknown_key",
    "key_not_valid",
    "duplicate_statement",
    "issuer_mismatch",
    "forbidden",
    "unknown_batch",
    "batch_exists",
    "not_custodian",
    "stale_head",
    "overdraw",
    "vin_claimed",
    "clock_skew",
    "unavailable",
    "outcome_unknown",
)


class RawJSONParser(BaseParser):
    """Leaves the body as bytes: entry_hash is computed over what was received."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


class KeyListView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        request=s.KeyRegistrationSerializer,
        responses={
            201: s.KeySerializer,
            200: s.KeySerializer,
            **errors("Keys", *AUTHENTICATED, *WITH_BODY, "forbidden", "key_not_valid"),
        },
        description="Register a public key; a key the organisation already has answers 200 with it.",
    )
    def post(self, request):
        body = _json_object(request)
        if set(body) != {"public_key"}:
            raise LedgerError("invalid_payload", 'Send exactly {"public_key": "<base64 of 32 bytes>"}.')
        key, created = keys.register_key(
            organization=organization_of(request), public_key_b64=body.get("public_key"), acting_user=request.user
        )
        return Response(s.render(s.KeySerializer, key), status=201 if created else 200)

    @extend_schema(
        responses={200: s.KeyListSerializer, **errors("KeyList", *AUTHENTICATED)},
        description="The caller's own keys (an auditor: every organisation's, with its organisation).",
    )
    def get(self, request):
        return Response(s.render(s.KeyListSerializer, read_views.list_keys(organization_of(request))))


class OrganizationView(APIView):
    """Whose token this is: a client fills a statement's issuer from it."""

    permission_classes = [IsMember]

    @extend_schema(
        responses={200: s.OrganizationSerializer, **errors("Organization", *AUTHENTICATED)},
        description=(
            "The caller's organisation: its slug (a statement's issuer), name, country and roles. Not in the "
            "contract: the SDK and `cairn` fill a statement's missing issuer from it."
        ),
    )
    def get(self, request):
        return Response(s.render(s.OrganizationSerializer, organization_of(request)))


class KeyRevokeView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        request=None,
        responses={200: s.KeySerializer, **errors("KeyRevoke", *AUTHENTICATED, "payload_too_large", "not_found")},
        description="Revoke one of the caller's keys (idempotent).",
    )
    def post(self, request, keyid: str):
        if not HEX64.match(keyid):
            raise LedgerError("not_found", "Your organisation has no such key: a keyid is 64 lowercase hex digits.")
        key = keys.revoke_key(organization=organization_of(request), keyid=keyid, acting_user=request.user)
        return Response(s.render(s.KeySerializer, key))


class AttestationListView(APIView):
    authentication_classes = [AppendTokenAuthentication, CsrfCheckedSessionAuthentication]
    permission_classes = [IsWriter]
    parser_classes = [RawJSONParser]
    takes_envelope = True  # a body of another media type is `malformed_envelope`

    def get_permissions(self):
        # Reading the list is for every organisation (each sees what names it); appending for writers.
        return [IsMember()] if self.request.method in ("GET", "HEAD") else super().get_permissions()

    @extend_schema(
        operation_id="v1_attestations_list",
        parameters=[s.AFTER_INDEX, s.LIMIT],
        responses={200: s.AttestationPageSerializer, **errors("AttestationList", *LIST_ERRORS)},
        description=(
            "Entries in index order after `after` (default -1), at most `limit` (1-1000, default 100): an auditor "
            "every entry, any other organisation the entries that name it. `next` is the following page's `after`."
        ),
    )
    def get(self, request):
        page = read_views.list_attestations(organization_of(request), request.query_params)
        return Response(s.render(s.AttestationPageSerializer, page))

    @extend_schema(
        request=s.EnvelopeSerializer,
        responses={201: s.ReceiptSerializer, 200: s.ReceiptSerializer, **errors("Attestations", *APPEND_ERRORS)},
        description="Append a signed DSSE attestation. The same envelope again answers 200 with the same body.",
    )
    def post(self, request):
        result = checks.append_attestation(
            request.data or request.body,
            acting_org=organization_of(request),
            acting_user=request.user,
            token=getattr(request.auth, "key", None),
        )
        # A shared serializer's to_representation: about 9 µs a receipt.
        return Response(s.render(s.ReceiptSerializer, result.as_body()), status=result.status)


class AttestationBatchView(APIView):
    """Contract §9: each envelope checked and appended as if posted alone, in order."""

    authentication_classes = [AppendTokenAuthentication, CsrfCheckedSessionAuthentication]
    permission_classes = [IsWriter]
    parser_classes = [RawJSONParser]

    @extend_schema(
        request=s.BatchSubmissionSerializer,
        responses={
            200: s.BatchResultsSerializer,
            **errors("AttestationsBatch", *AUTHENTICATED, *WITH_BODY),
        },
        description=(
            "Append 1 to 1000 signed DSSE envelopes, each checked and appended exactly as if posted alone to "
            "POST /attestations, in order, against the ledger as the earlier ones left it. Answers 200 with one "
            "result per envelope: its receipt (status 201 or 200) or its error (the status and error a single "
            "POST would answer; over 64 KiB: 413 payload_too_large). A body over 16 MiB is 413; a body that is not "
            "an object with a list of 1 to 1000 envelopes is 400 invalid_payload, and nothing is appended. The "
            "throttle counts each envelope."
        ),
    )
    def post(self, request):
        # Built by hand, not rendered by BatchResultsSerializer: rendering costs
        # about 25 µs an envelope, a tenth of the worker's CPU for a batched
        # attestation (docs/performance.md). tests/provenance/test_api_schema.py
        # holds the body to the schema instead.
        outcomes = self.run(request, checks.append_attestations)
        return Response({"results": [batch_body.result_body(outcome) for outcome in outcomes]})

    def run(self, request, handle) -> list[Outcome]:
        """The body's envelopes, each charged to the throttle, handed to
        `handle` (the append, or the check that stores nothing)."""
        try:
            data = request.data
        except UnsupportedMediaType as exc:
            raise LedgerError("invalid_payload", "Send the batch as application/json.") from exc
        envelopes = batch_body.envelopes_of(data if isinstance(data, bytes) and data else request.body)
        self._charge(request, len(envelopes) - 1)  # the request itself was counted
        outcomes: list[Outcome] = handle(
            envelopes,
            acting_org=organization_of(request),
            acting_user=request.user,
            token=getattr(request.auth, "key", None),
        )
        refused = batch_body.caller_refused(outcomes)
        if refused is not None:
            forget_token(getattr(request.auth, "key", None))
            raise refused
        return outcomes

    def _charge(self, request, cost: int) -> None:
        for throttle in self.get_throttles():
            if isinstance(throttle, TokenRateThrottle) and not throttle.charge(request, self, cost):
                self.throttled(request, throttle.wait())


class AttestationValidateView(AttestationBatchView):
    """Contract §5 v1.2: what §9 would answer for the body, nothing stored."""

    @extend_schema(
        request=s.BatchSubmissionSerializer,
        responses={
            200: s.ValidationResultsSerializer,
            **errors("AttestationsValidate", *AUTHENTICATED, *WITH_BODY),
        },
        description=(
            "Check 1 to 1000 signed DSSE envelopes exactly as POST /attestations/batch would, in order, each "
            "against the ledger as it stands and as the earlier ones would have left it, and store nothing. "
            "Answers 200 with one result per envelope: what the batch would answer, except that a would-be 201 is "
            '{"status": 201, "entry_hash"}. Permissions, limits and the throttle are those of the batch.'
        ),
    )
    def post(self, request):
        outcomes = self.run(request, checks.validate_attestations)
        results = [batch_body.validation_body(outcome) for outcome in outcomes]
        return Response(s.render(s.ValidationResultsSerializer, {"results": results}))


class AttestationDetailView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses={200: s.AttestationSerializer, **errors("Attestation", *READ_ERRORS)})
    def get(self, request, index: int):
        entry = Entry.objects.filter(index=index).first()
        if entry is None or not selectors.can_read_entry(organization_of(request), entry):
            raise LedgerError("not_found", f"No entry {index} that you may read.")
        (body,) = read_views.entry_bodies([entry])
        return Response(s.render(s.AttestationSerializer, body))


def _readable_batch(request, batch_id: str) -> Batch:
    batch = Batch.objects.filter(id=batch_id).first() if BATCH_ID.match(batch_id) else None
    if batch is None or not selectors.can_read_batch(organization_of(request), batch):
        raise LedgerError("not_found", f"No batch {batch_id} that you may read.")
    return batch


class BatchListView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="v1_batches_list",
        parameters=[s.CUSTODIAN, s.AFTER_ID, s.LIMIT],
        responses={200: s.BatchPageSerializer, **errors("BatchList", *LIST_ERRORS, "forbidden")},
        description=(
            "Batches in id order after `after`, at most `limit` (1-1000, default 100), in the custody of "
            "`custodian`: an auditor any organisation's (or all, without it); anyone else only its own (the "
            "default). `next` is the following page's `after`."
        ),
    )
    def get(self, request):
        page = read_views.list_batches(organization_of(request), request.query_params)
        return Response(s.render(s.BatchPageSerializer, page))


class BatchDetailView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses={200: s.BatchSerializer, **errors("Batch", *READ_ERRORS)})
    def get(self, request, batch_id: str):
        batch = _readable_batch(request, batch_id)
        entries = Entry.objects.touching(batch.id).values("index", "entry_hash", "type")
        return Response(s.render(s.BatchSerializer, {**read_views.batch_body(batch), "entries": entries}))


class BatchProvenanceView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses={200: s.ProvenanceSerializer, **errors("Batch", *READ_ERRORS)})
    def get(self, request, batch_id: str):
        batch = _readable_batch(request, batch_id)
        return Response(s.render(s.ProvenanceSerializer, selectors.provenance_of(batch)))


class BatchEpcisView(APIView):
    """GET /batches/{id}/epcis (contract §11): the provenance's readers; exact numbers,
    so the body is written by cairn_core.epcis.dumps rather than a renderer."""

    permission_classes = [IsMember]

    @extend_schema(
        responses={(200, EPCIS_MEDIA_TYPE): OpenApiTypes.OBJECT, **errors("Batch", *READ_ERRORS)},
        description="An EPCIS 2.0 EPCISDocument, one event per entry of the batch's upstream DAG.",
    )
    def get(self, request, batch_id: str):
        batch = _readable_batch(request, batch_id)
        return HttpResponse(epcis_mapping.dumps(epcis.export(batch)), content_type=EPCIS_MEDIA_TYPE)


def _json_object(request) -> dict:
    body = request.data
    if not isinstance(body, dict):
        raise LedgerError("invalid_payload", "The request body must be a JSON object.")
    return body
