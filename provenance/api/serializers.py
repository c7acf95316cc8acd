"""Request and response shapes of the ledger API (contract §5).

Serializers describe shape only: hashing, signatures and chains live in the
domain modules. Envelopes are not parsed here: the write path hashes the
bytes it received.

They are also what renders each answer (`render`): the body a view returns
and the OpenAPI schema drf-spectacular serves come from the same class, and
tests/provenance/test_api_schema.py holds every documented answer to the
schema served.
"""

import functools
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

# The query parameters of the lists (contract §5, v1.2).
AFTER_INDEX = OpenApiParameter("after", OpenApiTypes.INT, description="List entries with an index above this (-1).")
AFTER_ID = OpenApiParameter("after", OpenApiTypes.STR, description="List batches with an id after this one.")
LIMIT = OpenApiParameter("limit", OpenApiTypes.INT, description="At most this many (1-1000, default 100).")
CUSTODIAN = OpenApiParameter("custodian", OpenApiTypes.STR, description="The custodian's slug (default: yours).")


def render(serializer: type[serializers.Serializer], instance: Any, *, many: bool = False) -> Any:
    """`instance` as `serializer` renders it: a view's answer.

    One instance of each serializer serves every request: building a
    serializer deep-copies its fields, which would cost each receipt of
    POST /attestations more than rendering it does; `to_representation`
    keeps no state between calls.
    """
    return _renderer(serializer, many).to_representation(instance)


@functools.cache
def _renderer(serializer: type[serializers.Serializer], many: bool) -> serializers.BaseSerializer:
    return serializer(many=many) if many else serializer()


class AsStored(serializers.Serializer):
    """A document the ledger stores as JSON and answers as stored: an
    envelope, a verdict's signed parts. Its exact members and their order are
    what was hashed or signed (and PostgreSQL's jsonb orders keys its own
    way), so it is rendered untouched; the class describes it to the schema,
    and the schema test holds the stored documents to that description."""

    def to_representation(self, instance: Any) -> Any:
        return instance


class KeyRegistrationSerializer(serializers.Serializer):
    public_key = serializers.CharField(help_text="Base64 of the raw 32-byte Ed25519 public key.")


class KeySerializer(serializers.Serializer):
    keyid = serializers.CharField()
    organization = serializers.CharField(source="organization_id")
    registered_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)


class OrganizationSerializer(serializers.Serializer):
    """GET /organization: the organisation the caller's token belongs to."""

    slug = serializers.CharField()
    name = serializers.CharField()
    country = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())


class SignatureSerializer(serializers.Serializer):
    keyid = serializers.CharField()
    sig = serializers.CharField()


class EnvelopeSerializer(AsStored):
    """A DSSE envelope (contract §2), answered as stored."""

    payloadType = serializers.CharField()  # noqa: N815 - the wire name
    payload = serializers.CharField()
    # many=True hands min_length to the ListSerializer; the stubs omit it there.
    signatures = SignatureSerializer(many=True, min_length=1)  # type: ignore[call-arg]


class ReceiptSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    entry_hash = serializers.CharField()
    integrated_time = serializers.IntegerField()
    leaf_hash = serializers.CharField()


class BatchSubmissionSerializer(serializers.Serializer):
    """POST /attestations/batch (contract §9)."""

    # Each item is a DSSE envelope (EnvelopeSerializer), but one that is not is
    # answered in its own result, not by refusing the batch: any value here.
    envelopes = serializers.ListField(
        child=serializers.JSONField(help_text="A DSSE envelope, as for POST /attestations."),
        min_length=1,
        max_length=1000,
    )


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


class AttestationPageSerializer(serializers.Serializer):
    entries = AttestationSerializer(many=True)
    next = serializers.IntegerField(allow_null=True)


class KeyListItemSerializer(serializers.Serializer):
    keyid = serializers.CharField()
    public_key = serializers.CharField()
    registered_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    organization = serializers.CharField(required=False, help_text="Auditors only: the key's organisation.")


class KeyListSerializer(serializers.Serializer):
    keys = KeyListItemSerializer(many=True)


class BatchEntrySerializer(serializers.Serializer):
    index = serializers.IntegerField()
    entry_hash = serializers.CharField()
    type = serializers.CharField()


class BatchListItemSerializer(serializers.Serializer):
    """GET /batches/{id} without its entries: an item of GET /batches."""

    id = serializers.CharField()
    material = serializers.CharField()
    unit = serializers.CharField()
    quantity = serializers.CharField()
    remaining = serializers.CharField()
    custodian = serializers.CharField()
    head = serializers.CharField()


class BatchSerializer(BatchListItemSerializer):
    entries = BatchEntrySerializer(many=True)


class BatchPageSerializer(serializers.Serializer):
    batches = BatchListItemSerializer(many=True)
    next = serializers.CharField(allow_null=True)


class ProvenanceNodeSerializer(serializers.Serializer):
    id = serializers.CharField()
    material = serializers.CharField()
    unit = serializers.CharField()
    quantity = serializers.CharField()
    custodian = serializers.CharField()
    country = serializers.CharField()
    agreements = AgreementLinkSerializer(many=True)


class ProvenanceEdgeSerializer(serializers.Serializer):
    to = serializers.CharField(help_text="The output batch of the transform.")
    index = serializers.IntegerField(help_text="The transform's entry.")
    quantity = serializers.CharField(help_text="The input quantity attributed to the output.")

    def get_fields(self) -> dict[str, serializers.Field]:
        # The wire name `from` is a Python keyword: it cannot be declared.
        return {"from": serializers.CharField(help_text="The input batch."), **super().get_fields()}


class ProvenanceOriginSerializer(serializers.Serializer):
    batch = serializers.CharField()
    country = serializers.CharField()
    minerals = serializers.DictField(child=serializers.CharField())


class ProvenanceSerializer(serializers.Serializer):
    nodes = ProvenanceNodeSerializer(many=True)
    edges = ProvenanceEdgeSerializer(many=True)
    origins = ProvenanceOriginSerializer(many=True)


class HexHash(serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(r"^[0-9a-f]{64}$", **kwargs)


class LogKeySerializer(serializers.Serializer):
    origin = serializers.CharField()
    public_key = serializers.CharField(help_text="Base64 of the ledger's raw 32-byte Ed25519 public key.")
    verifier = serializers.CharField(help_text="<origin>+<hex key hash>+<base64(0x01 ‖ key)>")


class WitnessStatusSerializer(serializers.Serializer):
    vkey = serializers.CharField(help_text="<name>+<hex key ID>+<base64(0x04 ‖ key)>")
    url = serializers.CharField()
    latest_cosigned_size = serializers.IntegerField(
        allow_null=True, help_text="The largest checkpoint it cosigned; null before its first."
    )


class InclusionProofSerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    tree_size = serializers.IntegerField(min_value=1)
    leaf_hash = HexHash()
    hashes = serializers.ListField(child=HexHash(), help_text="RFC 9162 §2.1.3 inclusion path.")


class ConsistencyProofSerializer(serializers.Serializer):
    first = serializers.IntegerField(min_value=0)
    second = serializers.IntegerField(min_value=0)
    hashes = serializers.ListField(child=HexHash(), help_text="RFC 9162 §2.1.4 consistency proof.")


class LogEntrySerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    leaf_input = serializers.CharField(help_text="The exact leaf input string (contract §4).")
    leaf_hash = HexHash()


class LogEntriesSerializer(serializers.Serializer):
    entries = LogEntrySerializer(many=True)


class VerificationRequestSerializer(serializers.Serializer):
    vin = serializers.CharField(help_text="The claimed VIN.")


class MetSerializer(serializers.Serializer):
    met = serializers.BooleanField()


class MineralsRequirementSerializer(MetSerializer):
    qualifying_pct = serializers.CharField()
    required_pct = serializers.CharField(allow_null=True)


class ComponentsRequirementSerializer(MetSerializer):
    north_america_pct = serializers.CharField()
    required_pct = serializers.CharField(allow_null=True)


class RequirementsSerializer(AsStored):
    """Signed in the verdict's report: answered as stored."""

    critical_minerals = MineralsRequirementSerializer()
    battery_components = ComponentsRequirementSerializer()
    foreign_entity_of_concern = MetSerializer()
    final_assembly = MetSerializer()
    credit_in_force = MetSerializer()


class ProblemSerializer(AsStored):
    """Signed in the verdict's report: answered as stored."""

    code = serializers.CharField()
    message = serializers.CharField()
    index = serializers.IntegerField(allow_null=True)


class RequestedBySerializer(AsStored):
    """Signed in the verdict's report: answered as stored."""

    organization = serializers.CharField()
    user = serializers.CharField(allow_null=True, help_text="Null for a verification made by a command.")


class VerdictSerializer(serializers.Serializer):
    """The verdict of contract §5, members in the contract's order (a
    verdict stored before v1.1 or v1.2 lacks that version's members)."""

    id = serializers.IntegerField()
    vin = serializers.CharField()
    claim_index = serializers.IntegerField()
    integrity = serializers.ChoiceField(choices=["intact", "broken"])
    credit_usd = serializers.ChoiceField(choices=["7500", "3750", "0"])
    requirements = RequirementsSerializer()
    agreements = serializers.ListField(child=serializers.CharField())
    problems = ProblemSerializer(many=True)
    verified_at = serializers.CharField(required=False, help_text="RFC 3339, UTC (v1.2).")
    requested_by = RequestedBySerializer(required=False, help_text="v1.2.")
    checkpoint = serializers.CharField()
    scope = serializers.DictField(required=False, help_text="What the verdict covers and what it does not (v1.1).")
    applied = serializers.DictField(required=False, help_text="The dates, schedule row and rules it applied (v1.1).")
    report = EnvelopeSerializer(help_text="The verdict without report, as DSSE signed by the ledger key.")


class VerdictWithWarningsSerializer(VerdictSerializer):
    """GET /verifications/{id}: the verdict, and outside its signed report the open incidents under it."""

    integrity_warnings = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Ids of the open incidents whose suspect row is in the verdict's upstream (v1.2).",
    )


class ConsequencesSerializer(serializers.Serializer):
    claims = serializers.ListField(child=serializers.CharField(), help_text="VINs whose claims rest on the suspect.")
    verifications = serializers.ListField(child=serializers.IntegerField())


class IncidentSerializer(serializers.Serializer):
    """An integrity incident (contract §5, v1.2)."""

    id = serializers.IntegerField()
    detected_at = serializers.DateTimeField()
    state = serializers.ChoiceField(choices=["open", "acknowledged", "resolved"])
    code = serializers.CharField()
    message = serializers.CharField()
    index = serializers.IntegerField(allow_null=True, help_text="The suspect entry's index, or null.")
    consequences = ConsequencesSerializer()


class IncidentListSerializer(serializers.Serializer):
    incidents = IncidentSerializer(many=True, help_text="Newest first.")


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


class ValidationResultSerializer(serializers.Serializer):
    """One envelope's result from POST /attestations/validate: `entry_hash`
    for a would-be 201, `entry` for 200 (already logged), else `error`."""

    status = serializers.IntegerField(help_text="201, 200, or the status a single POST would have answered.")
    entry_hash = serializers.CharField(required=False, help_text="The entry hash a 201 would have logged.")
    entry = ReceiptSerializer(required=False)
    error = ErrorDetailSerializer(required=False)


class ValidationResultsSerializer(serializers.Serializer):
    results = ValidationResultSerializer(many=True, help_text="One per envelope, in the order posted.")


class VerdictEntrySerializer(serializers.Serializer):
    """The verdict's own ledger entry, proved against a later checkpoint (v1.2)."""

    index = serializers.IntegerField(min_value=0)
    leaf_input = serializers.CharField()
    checkpoint = serializers.CharField(help_text="The earliest log-signed checkpoint covering the entry.")
    cosignatures = serializers.ListField(child=serializers.CharField())
    proof = serializers.CharField(help_text="tlog-proof@v1 of the entry against that checkpoint.")
    consistency = serializers.ListField(
        child=serializers.CharField(), help_text="From the verdict's checkpoint to that one (base64 hashes)."
    )


class BundleSerializer(serializers.Serializer):
    """The proof bundle of contract §8 (application/vnd.cairn.bundle+json).

    A file written whole by audit.bundle (its bytes are what `cairn-verify`
    reads), not rendered from this class: the schema test holds it to it."""

    bundle = serializers.ChoiceField(choices=["cairn.bundle/v1"])
    vin = serializers.CharField()
    verdict = VerdictSerializer()
    log = LogKeySerializer()
    checkpoint = serializers.CharField()
    cosignatures = serializers.ListField(
        child=serializers.CharField(), help_text="Witness cosignature lines over the checkpoint (v1.2)."
    )
    entries = serializers.ListField(child=serializers.DictField(), help_text="index, leaf_input, proof")
    keys = serializers.ListField(child=serializers.DictField())
    organizations = serializers.ListField(child=serializers.DictField())
    rules = serializers.DictField()
    verdict_entry = VerdictEntrySerializer(required=False, help_text="Absent for a verification from before v1.2.")


# --- §45X (docs/contract-45x.md) ------------------------------------------------------


class MacrVerificationRequestSerializer(serializers.Serializer):
    batch = serializers.CharField(help_text="The component batch's id.")
    year = serializers.IntegerField(min_value=2000, max_value=2100, help_text="The taxable year.")
    sold_year = serializers.IntegerField(
        min_value=2000, max_value=2100, required=False, help_text="Verify as if the batch were sold that year."
    )


class MacrPreviewSerializer(AsStored):
    """The §45X verdict of docs/contract-45x.md §4 without the server's members (`id`,
    `verified_at`, `requested_by`, `report`): computed from the log, answered as computed."""

    regime = serializers.ChoiceField(choices=["45x"])
    batch = serializers.CharField()
    taxpayer = serializers.CharField()
    taxable_year = serializers.IntegerField()
    component = serializers.DictField(help_text="The entry creating the batch, its component and class.")
    outcome = serializers.ChoiceField(choices=["pass", "fail", "incomplete", "excepted", "not_applicable"])
    reasons = serializers.ListField(child=serializers.CharField())
    integrity = serializers.ChoiceField(choices=["intact", "broken"])
    totals = serializers.DictField(help_text="direct_material_cost_usd, pfe_attributed_usd, non_pfe_usd.")
    macr = serializers.DictField(allow_null=True, help_text="ratio, percent_shown; null when not computed.")
    threshold = serializers.DictField(allow_null=True, help_text="Null when no threshold applies.")
    year_sold = serializers.DictField()
    existing_contract = serializers.DictField()
    status_date = serializers.DictField()
    inputs = serializers.ListField(child=serializers.DictField(), help_text="Each direct material.")
    problems = ProblemSerializer(many=True, help_text="Integrity problems only.")
    checkpoint = serializers.CharField()
    scope = serializers.DictField(help_text="What the verdict checks and what it does not, with citations.")
    rules_version = serializers.CharField()
    what_if = serializers.DictField(allow_null=True, help_text="Null: no what-if.")


class MacrVerificationSerializer(MacrPreviewSerializer):
    """A stored §45X verification: the verdict with its id, when and for whom, signed by the ledger key."""

    id = serializers.IntegerField()
    verified_at = serializers.CharField(help_text="RFC 3339, UTC.")
    requested_by = RequestedBySerializer()
    report = EnvelopeSerializer(
        help_text="The verdict without report, as DSSE (application/vnd.cairn.macr-verification+json) signed by "
        "the ledger key."
    )


class MacrBundleSerializer(serializers.Serializer):
    """The §45X proof bundle (docs/contract-45x.md §6; application/vnd.cairn.bundle+json), a
    file written whole by audit.macr_bundle, not rendered from this class."""

    bundle = serializers.ChoiceField(choices=["cairn.bundle/v1"])
    regime = serializers.ChoiceField(choices=["45x"])
    batch = serializers.CharField()
    taxable_year = serializers.IntegerField()
    verdict = MacrVerificationSerializer()
    log = LogKeySerializer()
    checkpoint = serializers.CharField()
    cosignatures = serializers.ListField(child=serializers.CharField())
    entries = serializers.ListField(child=serializers.DictField(), help_text="index, leaf_input, proof")
    keys = serializers.ListField(child=serializers.DictField())
    organizations = serializers.ListField(child=serializers.DictField())
    rules = serializers.DictField(help_text="The §45X rule data document the verdict applied.")
    verdict_entry = VerdictEntrySerializer(required=False, help_text="The verdict's macr_verdict ledger entry.")
