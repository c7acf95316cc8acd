"""The proof bundle of a stored verification (contract §8), built from the ledger.

`build_bundle(verification)` gathers what `cairn-verify` needs to check the
verdict with no server: the signed verdict, the log key, the verdict's
checkpoint, every entry of the claim's upstream DAG with a tlog-proof@v1
against that checkpoint, the keys and organisations those entries name,
and the rule data the verdict applied (`cairn_core.ruleset_json`).

The entries are the claim and, for every `prev` of every entry in the
bundle, the entry it names (a recursive query over the batch links, each
link's `prev` being the signed one), with every certification of those
batches up to the claim whose `prev` is in the bundle. So every chain in
the bundle is closed: each `prev` names an entry of the bundle.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import connection
from django.http import HttpResponse

from agreements.snapshot import current_ruleset, load_ruleset
from audit.models import Verification
from cairn_core import bundle as bundles
from cairn_core import dsse, rules, ruleset_json, tlog_proof
from provenance import ledger_key, tlog
from provenance.errors import LedgerError
from provenance.models import BatchLink, Claim, Cosignature, Entry, Organization, SigningKey

LINKS = BatchLink._meta.db_table
ENTRIES = Entry._meta.db_table
INDEX = connection.ops.quote_name("index")

# The claim's entry and every entry a `prev` of the set names, transitively.
PREV_CLOSURE_SQL = f"""
WITH RECURSIVE closure(entry_id) AS (
    SELECT CAST(%s AS BIGINT)
    UNION
    SELECT named.{INDEX}
    FROM closure
    JOIN {LINKS} AS link ON link.entry_id = closure.entry_id AND link.prev <> ''
    JOIN {ENTRIES} AS named ON named.entry_hash = link.prev
)
SELECT entry_id FROM closure
"""


def latest_verification(vin: str) -> Verification:
    """The claim's latest stored verification (what `export_bundle VIN` exports)."""
    verification: Verification | None = (
        Verification.objects.filter(claim_id=vin).order_by("-requested_at", "-id").first()
    )
    if verification is None:
        if not Claim.objects.filter(vin=vin).exists():
            raise LedgerError("not_found", f"No claim for VIN {vin}.")
        raise LedgerError("not_found", f"The claim on VIN {vin} has not been verified yet: verify it first.")
    return verification


def build_bundle(verification: Verification) -> dict[str, object]:
    """The bundle document of `verification`, ready for `json.dumps`."""
    if "rules_sha256" not in verification.verdict.get("applied", {}):
        raise LedgerError(
            "bad_request",
            f"Verification {verification.pk} predates proof bundles (its verdict does not sign its rule data): "
            "verify the claim again and export that verification.",
        )
    key = ledger_key.current()
    rows = _entries(bundle_indexes(verification.claim_index))
    paths = tlog.inclusion_paths([row[0] for row in rows], verification.checkpoint_size)
    envelopes = {index: json.loads(envelope) for index, envelope, _time, _statement in rows}
    keys = _keys(envelopes.values())
    return {
        "bundle": bundles.BUNDLE,
        "vin": verification.claim_id,
        "verdict": verification.as_verdict(),
        "log": {"origin": key.origin, "public_key": dsse.b64encode(key.public_key), "verifier": key.verifier},
        "checkpoint": verification.checkpoint,
        "cosignatures": _cosignatures(verification),
        "entries": [
            {
                "index": index,
                "leaf_input": tlog.leaf_input(envelope, time),
                "proof": tlog_proof.format_proof(index, paths[index], verification.checkpoint),
            }
            for index, envelope, time, _statement in rows
        ],
        "keys": keys,
        "organizations": _organizations([row[3] for row in rows], keys),
        "rules": ruleset_json.to_json(applied_rules(verification)),
    }


def _cosignatures(verification: Verification) -> list[str]:
    """Every witness cosignature stored for the verdict's checkpoint (contract §8, §10)."""
    rows = Cosignature.objects.filter(checkpoint_id=verification.checkpoint_size).order_by("id")
    return [row.line for row in rows]


def bundle_indexes(claim_index: int) -> list[int]:
    """The claim's prev closure and the certifications whose prev it holds, sorted."""
    with connection.cursor() as cursor:
        cursor.execute(PREV_CLOSURE_SQL, [claim_index])
        indexes = {row[0] for row in cursor.fetchall()}
    hashes = set(Entry.objects.filter(index__in=indexes).values_list("entry_hash", flat=True))
    batches = set(BatchLink.objects.filter(entry_id__in=indexes).values_list("batch_id", flat=True))
    certifications = (
        BatchLink.objects.filter(role="certified", batch_id__in=batches, entry_id__lte=claim_index)
        .exclude(entry_id__in=indexes)
        .order_by("entry_id")
        .values_list("entry_id", "prev", "entry__entry_hash")
    )
    for index, prev, entry_hash in certifications:
        if prev in hashes:  # in index order, so a certification of a certification follows it
            indexes.add(index)
            hashes.add(entry_hash)
    return sorted(indexes)


def _entries(indexes: list[int]) -> list[tuple[int, str, int, dict[str, Any]]]:
    """(index, envelope, integrated_time, statement) of each entry, in index order."""
    rows = Entry.objects.filter(index__in=indexes).order_by("index")
    return list(rows.values_list("index", "envelope", "integrated_time", "statement"))


def _keys(envelopes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    keyids = {signature["keyid"] for envelope in envelopes for signature in envelope["signatures"]}
    return [
        {
            "keyid": key.keyid,
            "organization": key.organization_id,
            "public_key": dsse.b64encode(bytes(key.public_key)),
            "registered_at": rfc3339(key.registered_at),
            "revoked_at": rfc3339(key.revoked_at) if key.revoked_at else None,
        }
        for key in SigningKey.objects.filter(keyid__in=keyids).order_by("keyid")
    ]


def _organizations(statements: list[dict[str, Any]], keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every organisation the entries name: issuers, co-signers, receivers of transfers."""
    named = {key["organization"] for key in keys}
    for statement in statements:
        named.update(value for value in (statement.get("issuer"), statement.get("to")) if isinstance(value, str))
    return [
        {"slug": org.slug, "name": org.name, "country": str(org.country), "roles": list(org.roles)}
        for org in Organization.objects.filter(slug__in=named).order_by("slug")
    ]


def applied_rules(verification: Verification) -> rules.RuleSet:
    """The rule data as it stood for the verdict (from the rules' history), by its version."""
    candidates: tuple[Callable[[], rules.RuleSet], ...] = (
        functools.partial(load_ruleset, as_of=verification.requested_at),
        current_ruleset,
    )
    for candidate in candidates:
        ruleset = candidate()
        if ruleset.version == verification.rules_version:
            return ruleset
    raise LedgerError(
        "bad_request",
        f"The rule data of verification {verification.pk} ({verification.rules_version}) cannot be read back.",
    )


def rfc3339(moment: dt.datetime) -> str:
    """RFC 3339 UTC, with microseconds when there are any (key validity is judged to them)."""
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def dumps(document: Mapping[str, object]) -> bytes:
    """The bundle file's bytes: compact UTF-8 JSON, keys in the order built."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def download(verification: Verification) -> HttpResponse:
    """The bundle as a file named `<VIN>.<verification id>.cairn-bundle.json` (the API and the admin's button)."""
    response = HttpResponse(dumps(build_bundle(verification)), content_type=bundles.MEDIA_TYPE)
    response["Content-Disposition"] = (
        f'attachment; filename="{bundles.file_name(verification.claim_id, verification.pk)}"'
    )
    return response
