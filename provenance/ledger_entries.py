"""Appending ledger entries (contract §12): the log's record of keys,
organisations, rule data and verdicts, signed by the ledger key.

    append(kind, fields, at=…)   sign and append one entry; returns its Entry row

Call it inside the transaction that changes the table the entry describes
(a key registered, an organisation changed, a rule edited, a verdict
stored), before the change: the entry and the row commit together or not
at all, so the table is always a view of the log that the integrity checks
can rebuild (`cairn_core.ledger_entries.LedgerState`).

The entry is appended as every attestation is: under the log's tail lock
(the LogState row, SELECT … FOR UPDATE, the lock the write path takes
first), numbered next, its leaf added to the stored tree (`tlog.grow`) in
the same transaction, so ledger entries and attestations share one order
and indexes stay contiguous. It does not go through the sequencer: ledger
entries are few (a key, a rule change, a verdict), and they must commit
with the caller's own rows, which a sequencer's batch cannot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from agreements.snapshot import load_ruleset
from cairn_core import dsse, ledger_entries, merkle
from cairn_core.entries import stored_leaf_input
from cairn_core.regimes.s30d import ruleset_json
from material_assistance import rule_data as s45x_rule_data
from provenance import ledger_key, tlog
from provenance.models import Entry, EntryType, LogState, MerkleNode


def append(
    kind: str, fields: Mapping[str, Any], *, at: dt.datetime | None = None, before_logging: bool = False
) -> Entry:
    """Sign a ledger entry of `kind` recorded `at` (now by default) and append it to the log."""
    with transaction.atomic():
        # The tail lock first, as every append takes it: one order for all
        # entries, and one first entry (two organisations created at once on
        # a new ledger log one baseline, not two).
        state = LogState.objects.select_for_update().get_or_create(id=1)[0]
        if kind != "rules" and not logging_began():
            # The first ledger entry of a new ledger: the rule data it starts with, first
            # (§30D's, then each other regime's).
            for regime in (None, *REGIME_RULES):
                baseline = rules_fields(
                    reason=BASELINE_REASON, source="the data migrations", by="command:migrate", regime=regime
                )
                _append_locked(state, "rules", baseline, None, before_logging=False)
        return _append_locked(state, kind, fields, at, before_logging=before_logging)


def _append_locked(
    state: LogState, kind: str, fields: Mapping[str, Any], at: dt.datetime | None, *, before_logging: bool
) -> Entry:
    """Under the tail lock: sign, number, insert, grow the tree. The integrated
    time is read under the lock, so it never decreases along the log."""
    now = timezone.now()
    document = ledger_entries.payload(kind, at or now, fields, before_logging=before_logging)
    key = ledger_key.current()
    envelope = dsse.sign(
        ledger_entries.LEDGER_PAYLOAD_TYPE, ledger_entries.payload_bytes(document), [(key.keyid, key.private_key)]
    )
    stored = envelope.stored_json()
    integrated_time = int(now.timestamp())
    leaf = merkle.leaf_hash(stored_leaf_input(stored, integrated_time))
    recorded = ledger_entries.moment(document["at"])
    entry = Entry.objects.create(
        index=state.size,
        entry_hash=envelope.entry_hash,
        envelope=stored,
        integrated_time=integrated_time,
        leaf_hash=leaf.hex(),
        type=EntryType.LEDGER,
        issuer=None,
        issued_at=recorded,
        occurred_at=recorded,
        statement=document,
    )
    nodes = tlog.grow(state, [leaf])
    MerkleNode.objects.bulk_create(MerkleNode(id=node_id, hash=value) for node_id, value in nodes)
    state.save()
    return entry


BASELINE_REASON = "the rule data when logging began"


def logging_began() -> bool:
    """Whether the log holds any ledger entry yet (asked only when one is appended:
    keys, organisations, rule changes and verdicts are few)."""
    return Entry.objects.filter(type=EntryType.LEDGER).exists()


# The other regimes' rule data beside §30D's RuleSet, by name (a `rules`
# entry's `regime`): each a reader of its rule document, whose "version" is
# the SHA-256 of the rest.
REGIME_RULES: dict[str, Callable[[], dict[str, Any]]] = {s45x_rule_data.REGIME: s45x_rule_data.document}


def rules_fields(
    *, reason: str, source: str, by: str, changes: list[dict[str, Any]] | None = None, regime: str | None = None
) -> dict[str, Any]:
    """A `rules` entry's fields for the rule data as it stands now (read afresh, not cached).

    Without `regime`, §30D's: the RuleSet's version and digest, as they
    always were. With one ("45x"), that regime's rule document's: its
    version is both `version` and `sha256`, and the entry says `regime`
    (contract §12, as the core's ledger_entries reads it), so that the
    rule data of each regime at a time is its latest entry's.
    """
    fields: dict[str, Any]
    if regime is None:
        ruleset = load_ruleset()
        fields = {"version": ruleset.version, "sha256": ruleset_json.digest(ruleset)}
    else:
        version = REGIME_RULES[regime]()["version"]
        fields = {"regime": regime, "version": version, "sha256": version}
    return {**fields, "changes": changes or [], "reason": reason, "source": source, "by": by}


def latest_index(*, excluding: tuple[str, ...] = ()) -> int | None:
    """The index of the latest ledger entry not of the kinds `excluding`
    (the partial index on ledger entries finds them without the others)."""
    found = Entry.objects.filter(type=EntryType.LEDGER).exclude(statement__type__in=excluding)
    return found.order_by("-index").values_list("index", flat=True).first()


def latest_rules_digest(regime: str | None = None) -> tuple[int, str] | None:
    """(index, sha256) of the latest `rules` entry of §30D's rule data (of
    `regime`'s, "45x"); None before the first."""
    entries = Entry.objects.filter(type=EntryType.LEDGER, statement__type="rules")
    if regime is None:
        entries = entries.exclude(statement__has_key="regime")
    else:
        entries = entries.filter(statement__regime=regime)
    row = entries.order_by("-index").values_list("index", "statement").first()
    return (row[0], str(row[1]["sha256"])) if row else None


def key_fields(organization: str, keyid: str, public_key: bytes) -> dict[str, str]:
    return {"organization": organization, "keyid": keyid, "public_key": dsse.b64encode(public_key)}


def organization_fields(slug: str, name: str, country: str, roles: list[str]) -> dict[str, Any]:
    return {"slug": slug, "name": name, "country": country, "roles": sorted(set(roles))}
