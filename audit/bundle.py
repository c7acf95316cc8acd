"""The proof bundle of a stored verification (contract §8), built from the ledger.

`build_bundle(verification)` gathers what `cairn-verify` needs to check the
verdict with no server: the signed verdict, the log key, the verdict's
checkpoint, every entry of the claim's upstream DAG with a tlog-proof@v1
against that checkpoint, the keys and organisations those entries name,
and the rule data the verdict applied (`cairn_core.regimes.s30d.ruleset_json`).

The entries are the claim and, for every `prev` of every entry in the
bundle, the entry it names (a recursive query over the batch links, each
link's `prev` being the signed one), with every certification of those
batches up to the claim whose `prev` is in the bundle. So every chain in
the bundle is closed: each `prev` names an entry of the bundle.

Ledger entries (contract §12, v1.2). Beside the claim's DAG, `entries`
carries the ledger entries the verdict relies on that the verdict's
checkpoint covers (index below its size), sorted with the others, each
with its tlog-proof@v1 against that checkpoint:

* the `key_registered` entry, and the `key_revoked` entry if one is
  logged, of every key that signed an entry of the bundle;
* every `organization` entry of every organisation the bundle names;
* the latest `rules` entry whose `sha256` is the verdict's
  `applied.rules_sha256`.

The `keys` and `organizations` rows are then the replay of those entries
(`cairn_core.ledger_entries.LedgerState`), as of the verdict's checkpoint:
a key's `revoked_at` is its logged revocation below the checkpoint, an
organisation's record its latest logged one (a row only for what has no
entry, as a ledger from before v1.2 has none, is read from the table).
`cairn-verify` takes key validity, countries, roles and the rule data's
digest from the entries and names any row that disagrees.

The verdict's own `verdict` entry is appended after the verdict was
computed, so the verdict's checkpoint does not cover it; the bundle
carries it in its own section, proved against a later checkpoint:

    "verdict_entry": {"index": N, "leaf_input": "<its leaf input>",
                      "checkpoint": "<the earliest log-signed checkpoint covering N>",
                      "cosignatures": ["<witness lines over that checkpoint>"],
                      "proof": "<tlog-proof@v1 of N against that checkpoint>",
                      "consistency": ["<base64 hash>", ...]}

`consistency` is the RFC 9162 consistency proof from the verdict's
checkpoint to that later one. When no published checkpoint covers the
verdict entry yet, one is published first and the witnesses are asked to
cosign it (`provenance.witnesses.gather`; a witness that does not answer
only leaves its line out). A verification stored before verdict entries
existed has none in the log, and its bundle has no `verdict_entry`.
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
from cairn_core import dsse, tlog_proof
from cairn_core.entries import leaf_input_text
from cairn_core.ledger_entries import LedgerState
from cairn_core.regimes.s30d import bundle as bundle_30d
from cairn_core.regimes.s30d import rules, ruleset_json
from provenance import checkpoints, ledger_key, tlog, witnesses
from provenance.errors import LedgerError
from provenance.models import BatchLink, Checkpoint, Claim, Cosignature, Entry, EntryType, Organization, SigningKey

LINKS = BatchLink._meta.db_table
ENTRIES = Entry._meta.db_table
INDEX = connection.ops.quote_name("index")

# The seed entries and every entry a `prev` of the set names, transitively.
PREV_CLOSURE_SQL = f"""
WITH RECURSIVE closure(entry_id) AS (
    SELECT {INDEX} FROM {ENTRIES} WHERE {INDEX} IN ({{seeds}})
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
    digest = verification.verdict["applied"]["rules_sha256"]
    proved = proved_sections(
        bundle_indexes(verification.claim_index), verification.checkpoint_size, verification.checkpoint, digest
    )
    document: dict[str, object] = {
        "bundle": bundles.BUNDLE,
        "vin": verification.claim_id,
        "verdict": verification.as_verdict(),
        **proved,
        "rules": ruleset_json.to_json(applied_rules(verification)),
    }
    own_entry = verdict_entry("verdict", verification.pk, verification.checkpoint_size)
    if own_entry is not None:
        document["verdict_entry"] = own_entry
    return document


def proved_sections(
    indexes: list[int], checkpoint_size: int, checkpoint: str, rules_digest: str, *, regime: str | None = None
) -> dict[str, Any]:
    """The sections every regime's bundle shares, for the attestations `indexes` and the verdict's
    checkpoint: `log`, `checkpoint`, `cosignatures`, `entries` (with the ledger entries relied on,
    the rules entry whose sha256 is `rules_digest`, of `regime` when given, among them: each with its
    tlog-proof@v1), `keys` and `organizations` (module docstring)."""
    key = ledger_key.current()
    attestations = entry_rows(indexes)
    keyids = signers(json.loads(envelope) for _index, envelope, _time, _statement in attestations)
    named = named_organizations([row[3] for row in attestations], keyids)
    logged = relied_on(checkpoint_size, keyids, named, rules_digest, regime=regime)
    rows = sorted(attestations + logged)
    paths = tlog.inclusion_paths([row[0] for row in rows], checkpoint_size)
    state = replay(logged)
    return {
        "log": {"origin": key.origin, "public_key": dsse.b64encode(key.public_key), "verifier": key.verifier},
        "checkpoint": checkpoint,
        "cosignatures": cosignatures(checkpoint_size),
        "entries": [
            {
                "index": index,
                "leaf_input": leaf_input_text(envelope, time),
                "proof": tlog_proof.format_proof(index, paths[index], checkpoint),
            }
            for index, envelope, time, _statement in rows
        ],
        "keys": key_rows(keyids, state),
        "organizations": organization_rows(named, state),
    }


def cosignatures(tree_size: int) -> list[str]:
    """Every witness cosignature stored for the checkpoint of `tree_size` (contract §8, §10)."""
    rows = Cosignature.objects.filter(checkpoint_id=tree_size).order_by("id")
    return [row.line for row in rows]


def bundle_indexes(claim_index: int) -> list[int]:
    """The claim's prev closure and the certifications whose prev it holds, sorted."""
    indexes = prev_closure([claim_index])
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


def prev_closure(seeds: Iterable[int]) -> set[int]:
    """The `seeds` and every entry a `prev` of the set names, transitively (one recursive query)."""
    listed = sorted(set(seeds))
    if not listed:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(PREV_CLOSURE_SQL.format(seeds=", ".join(["%s"] * len(listed))), listed)
        return {row[0] for row in cursor.fetchall()}


def entry_rows(indexes: list[int]) -> list[tuple[int, str, int, dict[str, Any]]]:
    """(index, envelope, integrated_time, statement) of each entry, in index order."""
    rows = Entry.objects.filter(index__in=indexes).order_by("index")
    return list(rows.values_list("index", "envelope", "integrated_time", "statement"))


def signers(envelopes: Iterable[Mapping[str, Any]]) -> set[str]:
    return {signature["keyid"] for envelope in envelopes for signature in envelope["signatures"]}


def named_organizations(statements: list[dict[str, Any]], keyids: set[str]) -> set[str]:
    """Every organisation the entries name: issuers, co-signers, receivers of transfers, the
    taxpayers of §45X supplier certifications."""
    named = set(SigningKey.objects.filter(keyid__in=keyids).values_list("organization_id", flat=True))
    for statement in statements:
        values = (statement.get("issuer"), statement.get("to"), statement.get("taxpayer"))
        named.update(value for value in values if isinstance(value, str))
    return named


Row = tuple[int, str, int, dict[str, Any]]


def relied_on(
    checkpoint_size: int, keyids: set[str], named: set[str], rules_digest: str, *, regime: str | None = None
) -> list[Row]:
    """The ledger entries below the verdict's checkpoint that the verdict relies on (module docstring)."""
    below = Entry.objects.filter(type=EntryType.LEDGER, index__lt=checkpoint_size)
    fields = ("index", "envelope", "integrated_time", "statement")
    keys = below.filter(statement__type__in=("key_registered", "key_revoked"), statement__keyid__in=sorted(keyids))
    organizations = below.filter(statement__type="organization", statement__slug__in=sorted(named))
    rules_entries = below.filter(statement__type="rules", statement__sha256=rules_digest)
    if regime is not None:
        rules_entries = rules_entries.filter(statement__regime=regime)
    rules_entry = rules_entries.order_by("-index")[:1]
    found = [*keys.values_list(*fields), *organizations.values_list(*fields), *rules_entry.values_list(*fields)]
    return sorted({row[0]: row for row in found}.values())


def replay(rows: list[Row]) -> LedgerState:
    """The ledger entries the bundle carries, replayed in log order (as `cairn-verify` will)."""
    state = LedgerState()
    for index, _envelope, _time, statement in rows:
        state.apply(index, statement)
    return state


def key_rows(keyids: set[str], state: LedgerState) -> list[dict[str, Any]]:
    """Every signing key: as its ledger entries say, or (no entry: a ledger from before v1.2) its row."""
    rows = {key.keyid: key for key in SigningKey.objects.filter(keyid__in=keyids)}
    found = []
    for keyid in sorted(set(rows) | (keyids & set(state.keys))):
        record = state.keys.get(keyid)
        if record is not None:
            organization, public_key = record.organization, record.public_key
            registered, revoked = record.registered_at, record.revoked_at
        else:
            key = rows[keyid]
            organization, public_key = key.organization_id, bytes(key.public_key)
            registered, revoked = key.registered_at, key.revoked_at
        found.append(
            {
                "keyid": keyid,
                "organization": organization,
                "public_key": dsse.b64encode(public_key),
                "registered_at": rfc3339(registered),
                "revoked_at": rfc3339(revoked) if revoked else None,
            }
        )
    return found


def organization_rows(named: set[str], state: LedgerState) -> list[dict[str, Any]]:
    """Every organisation named: its latest logged record below the checkpoint, or (none) its row."""
    rows = {org.slug: org for org in Organization.objects.filter(slug__in=named)}
    found = []
    for slug in sorted(set(rows) | (named & set(state.organizations))):
        record = state.organizations.get(slug)
        if record is not None:
            found.append({"slug": slug, "name": record.name, "country": record.country, "roles": list(record.roles)})
        else:
            org = rows[slug]
            found.append({"slug": slug, "name": org.name, "country": str(org.country), "roles": list(org.roles)})
    return found


# --- the verdict's own entry -----------------------------------------------------------


def verdict_entry(kind: str, verification: int, checkpoint_size: int) -> dict[str, object] | None:
    """The `verdict_entry` section (module docstring) of verification `verification`'s ledger entry of
    `kind` ("verdict", §45X's "macr_verdict"); None for a verification logged before v1.2."""
    row = (
        Entry.objects.filter(type=EntryType.LEDGER, statement__type=kind, statement__verification=verification)
        .values_list("index", "envelope", "integrated_time")
        .first()
    )
    if row is None:
        return None
    index, envelope, integrated_time = row
    later = checkpoint_covering(index)
    path = tlog.inclusion_paths([index], later.tree_size)[index]
    consistency = tlog.consistency_proof(checkpoint_size, later.tree_size)
    return {
        "index": index,
        "leaf_input": leaf_input_text(envelope, integrated_time),
        "checkpoint": later.note,
        "cosignatures": cosignatures(later.tree_size),
        "proof": tlog_proof.format_proof(index, path, later.note),
        "consistency": [dsse.b64encode(item) for item in consistency],
    }


def checkpoint_covering(index: int) -> Checkpoint:
    """The earliest published checkpoint covering entry `index` (so every export gives the same one),
    publishing one first, and asking the witnesses to cosign it, when none does yet."""
    found: Checkpoint | None = Checkpoint.objects.filter(tree_size__gt=index).order_by("tree_size").first()
    if found is not None:
        return found
    try:
        published = checkpoints.publish_checkpoint()
    except checkpoints.CheckpointRefused as exc:
        raise LedgerError("unavailable", f"No checkpoint can be signed to prove the verdict's entry: {exc}") from exc
    if published.tree_size <= index:
        raise LedgerError("unavailable", f"No checkpoint covers the verdict's entry {index} yet.")
    witnesses.gather(published)  # a witness that does not answer leaves its line out; nothing waits on it
    return published


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
        f'attachment; filename="{bundle_30d.file_name(verification.claim_id, verification.pk)}"'
    )
    return response
