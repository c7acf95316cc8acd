"""Transparency log endpoints (contract §5): checkpoint, key, proofs, entries.

All but /log/entries are public: anyone may check that an entry is in the
log and that the log only grows, without an account.
"""

from __future__ import annotations

import re

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from cairn_core import dsse
from provenance import checkpoints, ledger_key, tlog, witnesses
from provenance.api import serializers as s
from provenance.api.permissions import IsAuditor
from provenance.api.schema import AUTHENTICATED, errors, query_integers
from provenance.errors import LedgerError

MAX_ENTRIES = 1000


# ASCII digits only (str.isdigit also takes "²" and other scripts' digits,
# which int() refuses), and no more than a tree size can have.
_NON_NEGATIVE = re.compile(r"[0-9]{1,19}")


def _integer(request, name: str) -> int:
    value = request.query_params.get(name)
    if value is None or not _NON_NEGATIVE.fullmatch(value):
        raise LedgerError("bad_request", f"{name} must be a non-negative integer.")
    return int(value)


def _proof_call(function, *args):
    try:
        return function(*args)
    except tlog.ProofError as exc:
        raise LedgerError("bad_request", f"{str(exc).capitalize()}.") from exc


class FirstRenderer(BaseContentNegotiation):
    """Ignore Accept: a checkpoint is text/plain whatever the client asks for."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class PublicLogView(APIView):
    permission_classes = [AllowAny]
    # No authentication: a public endpoint ignores whatever token is sent.
    authentication_classes: list = []


class CheckpointView(PublicLogView):
    """The latest signed checkpoint as a C2SP signed note, with every witness
    cosignature collected for it so far after the ledger's line (§10)."""

    content_negotiation_class = FirstRenderer

    @extend_schema(
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="A C2SP tlog-checkpoint signed note."),
            **errors("Checkpoint", "not_found", "rate_limited"),
        }
    )
    def get(self, request):
        checkpoint = checkpoints.latest()
        if checkpoint is None:
            raise LedgerError("not_found", "No checkpoint has been published yet.")
        response = HttpResponse(witnesses.cosigned_note(checkpoint), content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = "no-cache"
        return response


class KeyView(PublicLogView):
    """The ledger's public key and its signed-note verifier string."""

    @extend_schema(responses={200: s.LogKeySerializer, **errors("LogKey", "rate_limited")})
    def get(self, request):
        key = ledger_key.current()
        body = {"origin": key.origin, "public_key": dsse.b64encode(key.public_key), "verifier": key.verifier}
        return Response(s.render(s.LogKeySerializer, body))


class WitnessesView(PublicLogView):
    """The witnesses that cosign this log's checkpoints (contract §10)."""

    @extend_schema(responses={200: s.WitnessStatusSerializer(many=True), **errors("Witnesses", "rate_limited")})
    def get(self, request):
        return Response(s.render(s.WitnessStatusSerializer, witnesses.status(), many=True))


class InclusionProofView(PublicLogView):
    @extend_schema(
        parameters=query_integers("index", "tree_size"),
        responses={200: s.InclusionProofSerializer, **errors("Proof", "bad_request", "rate_limited")},
        description="An inclusion proof of entry `index` in the tree of `tree_size` (any size up to the current).",
    )
    def get(self, request):
        index, tree_size = _integer(request, "index"), _integer(request, "tree_size")
        proof = _proof_call(tlog.inclusion_proof, index, tree_size)
        return Response(s.render(s.InclusionProofSerializer, proof.as_json()))


class ConsistencyProofView(PublicLogView):
    @extend_schema(
        parameters=query_integers("first", "second"),
        responses={200: s.ConsistencyProofSerializer, **errors("Proof", "bad_request", "rate_limited")},
        description="A consistency proof from tree size `first` to `second` (empty from size 0).",
    )
    def get(self, request):
        first, second = _integer(request, "first"), _integer(request, "second")
        hashes = _proof_call(tlog.consistency_proof, first, second)
        body = {"first": first, "second": second, "hashes": [h.hex() for h in hashes]}
        return Response(s.render(s.ConsistencyProofSerializer, body))


class EntriesView(APIView):
    """Leaf inputs of [start, end), for auditors replaying the tree."""

    permission_classes = [IsAuditor]

    @extend_schema(
        parameters=query_integers("start", "end"),
        responses={200: s.LogEntriesSerializer, **errors("LogEntries", *AUTHENTICATED, "bad_request")},
        description=f"Entries [start, end), end truncated to the tree size; at most {MAX_ENTRIES}.",
    )
    def get(self, request):
        start, end = _integer(request, "start"), _integer(request, "end")
        if end < start:
            raise LedgerError("bad_request", "end must not be below start.")
        if end - start > MAX_ENTRIES:
            raise LedgerError("bad_request", f"Ask for at most {MAX_ENTRIES} entries at a time.")
        size = tlog.current_size()
        if start > size:
            raise LedgerError("bad_request", f"start {start} is beyond the log's size {size}.")
        return Response(s.render(s.LogEntriesSerializer, {"entries": tlog.entries(start, min(end, size))}))
