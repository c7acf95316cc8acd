"""Request and response shapes of the ledger API (contract §5).

Serializers describe shape only: hashing, signatures and chains live in the
domain modules. Envelopes are not parsed here: the write path hashes the
bytes it received.
"""

from rest_framework import serializers


class KeyRegistrationSerializer(serializers.Serializer):
    public_key = serializers.CharField(help_text="Base64 of the raw 32-byte Ed25519 public key.")


class KeySerializer(serializers.Serializer):
    keyid = serializers.CharField()
    organization = serializers.CharField(source="organization_id")
    registered_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)


class SignatureSerializer(serializers.Serializer):
    keyid = serializers.CharField()
    sig = serializers.CharField()


class EnvelopeSerializer(serializers.Serializer):
    """A DSSE envelope (contract §2)."""

    payloadType = serializers.CharField()  # noqa: N815 - the wire name
    payload = serializers.CharField()
    signatures = SignatureSerializer(many=True)


class ReceiptSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    entry_hash = serializers.CharField()
    integrated_time = serializers.IntegerField()
    leaf_hash = serializers.CharField()


class BatchSubmissionSerializer(serializers.Serializer):
    """POST /attestations/batch (contract §9)."""

    envelopes = serializers.ListField(child=EnvelopeSerializer(), min_length=1, max_length=1000)


class AgreementLinkSerializer(serializers.Serializer):
    agreement = serializers.CharField()
    mineral = serializers.CharField()
    country = serializers.CharField()


class AttestationSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    entry_hash = serializers.CharField()
    integrated_time = serializers.IntegerField()
    leaf_hash = serializers.CharField()
    envelope = EnvelopeSerializer()
    cosigners = serializers.ListField(child=serializers.CharField())
    agreements = AgreementLinkSerializer(many=True)


class BatchEntrySerializer(serializers.Serializer):
    index = serializers.IntegerField()
    entry_hash = serializers.CharField()
    type = serializers.CharField()


class BatchSerializer(serializers.Serializer):
    id = serializers.CharField()
    material = serializers.CharField()
    unit = serializers.CharField()
    quantity = serializers.CharField()
    remaining = serializers.CharField()
    custodian = serializers.CharField()
    head = serializers.CharField()
    entries = BatchEntrySerializer(many=True)


class ProvenanceNodeSerializer(serializers.Serializer):
    id = serializers.CharField()
    material = serializers.CharField()
    unit = serializers.CharField()
    quantity = serializers.CharField()
    custodian = serializers.CharField()
    country = serializers.CharField()
    agreements = AgreementLinkSerializer(many=True)


class ProvenanceEdgeSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="Input batch (wire name: from).")
    to = serializers.CharField()
    index = serializers.IntegerField()
    quantity = serializers.CharField()


class ProvenanceOriginSerializer(serializers.Serializer):
    batch = serializers.CharField()
    country = serializers.CharField()
    minerals = serializers.DictField(child=serializers.CharField())


class ProvenanceSerializer(serializers.Serializer):
    nodes = ProvenanceNodeSerializer(many=True)
    edges = ProvenanceEdgeSerializer(many=True)
    origins = ProvenanceOriginSerializer(many=True)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    head = serializers.CharField(required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class BatchResultSerializer(serializers.Serializer):
    """One envelope's result: `entry` when status is 201 or 200, else `error`."""

    status = serializers.IntegerField(help_text="201, 200, or the status a single POST would have answered.")
    entry = ReceiptSerializer(required=False)
    error = ErrorDetailSerializer(required=False)


class BatchResultsSerializer(serializers.Serializer):
    results = BatchResultSerializer(many=True, help_text="One per envelope, in the order posted.")
