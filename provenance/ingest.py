"""The ledger's one write path: check a signed attestation and append it.

`append_attestation` runs the contract's checks (§6) in the contract's order
and, when they pass, appends the entry in one transaction: its signatures,
batch links, new batches, head updates, claim, Merkle nodes and agreement
links commit together or not at all.

Locking (PostgreSQL). Two kinds of lock serialise writers:

1. **Batch heads.** The rows of every existing batch the statement names are
   locked with SELECT … FOR UPDATE, in batch-id order so that two writers
   never wait on each other in a cycle. Custody, prev heads and quantities
   are checked under these locks, so two statements building on the same
   head cannot both pass: the second sees the new head and gets
   `stale_head`. Statements on different batches proceed in parallel.
2. **The log tail.** The single LogState row is locked last, just before
   the insert, and held only for the insert and the tree update. It hands
   out the index: the next index is read under the lock and the row is
   updated in the same transaction, so a rollback returns the index too and
   indexes stay contiguous with no gap or reuse.

Uniqueness the locks do not cover (the same statement, a new batch id or a
VIN posted twice at once) is enforced by unique constraints; the loser's
transaction rolls back and the checks run again against what the winner
committed, giving the contract's answer (200, `batch_exists`,
`vin_claimed`).

SQLite has one writer at a time (settings use IMMEDIATE transactions), which
serialises appends trivially.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agreements.linking import link_entry
from agreements.models import CriticalMineral
from provenance import dsse, merkle, tlog
from provenance.errors import LedgerError
from provenance.models import (
    Batch,
    BatchLink,
    Claim,
    Entry,
    EntrySignature,
    LinkRole,
    LogState,
    Organization,
    SigningKey,
)
from provenance.payload import PAYLOAD_TYPE, ROLES_FOR_TYPE, PayloadError, Statement, parse_statement

# A statement that loses a uniqueness race is checked again this many times.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class AppendResult:
    entry: Entry
    created: bool

    @property
    def status(self) -> int:
        return 201 if self.created else 200

    def as_body(self) -> dict:
        return receipt(self.entry)


def receipt(entry: Entry) -> dict:
    """The answer to an accepted POST /attestations (contract §5)."""
    return {
        "index": entry.index,
        "entry_hash": entry.entry_hash,
        "integrated_time": entry.integrated_time,
        "leaf_hash": entry.leaf_hash,
    }


@dataclass(frozen=True)
class Signer:
    key: SigningKey
    is_issuer: bool


def append_attestation(
    body: bytes,
    *,
    acting_org: Organization,
    acting_user=None,
    now: dt.datetime | None = None,
) -> AppendResult:
    """Check `body` (a DSSE envelope) posted by `acting_org` and log it."""
    now = now or timezone.now()
    envelope = _parse_envelope(body)
    statement = _parse_statement(envelope)
    keys = _verify_signatures(envelope, now)
    existing = _already_logged(envelope)
    if existing:
        return existing
    signers = _check_issuer(statement, keys, acting_org)
    _check_role(statement, acting_org)
    _check_new_batch_prefixes(statement)
    for attempt in range(MAX_ATTEMPTS):
        try:
            with transaction.atomic():
                entry = _append_locked(envelope, statement, signers, acting_user, now)
            return AppendResult(entry, created=True)
        except IntegrityError:
            # Lost a uniqueness race: the checks below will now see the
            # winner's rows and answer as the contract says.
            existing = _already_logged(envelope)
            if existing:
                return existing
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# --- checks outside the transaction (no ledger state involved) -------------


def _parse_envelope(body: bytes) -> dsse.Envelope:
    try:
        envelope = dsse.parse_envelope(body)
    except dsse.EnvelopeError as exc:
        raise LedgerError("malformed_envelope", f"Not a DSSE envelope: {exc}.") from exc
    if envelope.payload_type != PAYLOAD_TYPE:
        raise LedgerError(
            "unsupported_payload_type",
            f"payloadType must be {PAYLOAD_TYPE}, not {envelope.payload_type!r}.",
        )
    return envelope


def _parse_statement(envelope: dsse.Envelope) -> Statement:
    try:
        statement = parse_statement(envelope.payload)
    except PayloadError as exc:
        raise LedgerError("invalid_payload", f"Invalid payload: {exc}.") from exc
    if statement.to and not Organization.objects.filter(slug=statement.to).exists():
        raise LedgerError("invalid_payload", f"Invalid payload: to names unknown organisation {statement.to!r}.")
    _check_minerals_known(statement.minerals)
    return statement


def _check_minerals_known(names: frozenset[str]) -> None:
    if not names:
        return
    known = set(CriticalMineral.objects.filter(slug__in=names).values_list("slug", flat=True))
    unknown = sorted(names - known)
    if unknown:
        raise LedgerError(
            "invalid_payload",
            f"Invalid payload: {', '.join(unknown)} is not a critical mineral on the statute's list.",
        )


def _verify_signatures(envelope: dsse.Envelope, now: dt.datetime) -> list[SigningKey]:
    """Every signature must verify against a registered key valid now."""
    keyids = [signature.keyid for signature in envelope.signatures]
    keys = SigningKey.objects.in_bulk(keyids)
    message = envelope.pae
    verified = []
    for signature in envelope.signatures:
        key = keys.get(signature.keyid)
        if key is None:
            raise LedgerError("unknown_key", f"No registered key has keyid {signature.keyid}.")
        if not key.is_valid_at(now):
            raise LedgerError("key_not_valid", f"Key {signature.keyid} was revoked; sign with a valid key.")
        if not dsse.verify_signature(bytes(key.public_key), message, signature.sig):
            raise LedgerError(
                "bad_signature",
                f"The signature by {signature.keyid} does not verify over the envelope's PAE.",
            )
        verified.append(key)
    return verified


def _already_logged(envelope: dsse.Envelope) -> AppendResult | None:
    entry = Entry.objects.filter(entry_hash=envelope.entry_hash).first()
    if entry is None:
        return None
    if entry.envelope != envelope.stored_json():
        raise LedgerError(
            "duplicate_statement",
            f"This statement is already logged at index {entry.index} with other signatures.",
        )
    return AppendResult(entry, created=False)


def _check_issuer(statement: Statement, keys: list[SigningKey], acting_org: Organization) -> list[Signer]:
    if statement.issuer != acting_org.slug:
        raise LedgerError(
            "issuer_mismatch",
            f"The payload's issuer is {statement.issuer!r} but you post for {acting_org.slug!r}.",
        )
    signers = [Signer(key, key.organization_id == statement.issuer) for key in keys]
    if not any(signer.is_issuer for signer in signers):
        raise LedgerError("issuer_mismatch", f"No signature is by a key of the issuer {statement.issuer!r}.")
    return signers


def _check_role(statement: Statement, acting_org: Organization) -> None:
    allowed = ROLES_FOR_TYPE[statement.type]
    if not acting_org.has_role(*allowed):
        raise LedgerError(
            "role_not_allowed",
            f"A {statement.type} attestation needs the role {' or '.join(allowed)}.",
        )


def _check_new_batch_prefixes(statement: Statement) -> None:
    for output in statement.outputs:
        if output.batch.split(":", 1)[0] != statement.issuer:
            raise LedgerError(
                "forbidden",
                f"Only {output.batch.split(':', 1)[0]!r} may create batch {output.batch}.",
            )


# --- checks and writes under the locks ------------------------------------


def _append_locked(
    envelope: dsse.Envelope,
    statement: Statement,
    signers: list[Signer],
    acting_user,
    now: dt.datetime,
) -> Entry:
    batches = _lock_named_batches(statement)
    _check_new_batches_absent(statement)
    _check_custody(statement, batches)
    _check_heads(statement, batches)
    _check_quantities(statement, batches)
    _check_vin(statement)
    _check_clock(statement, now)
    # The tail lock comes last and is held only for the writes below.
    state, _ = LogState.objects.select_for_update().get_or_create(id=1)
    entry = _insert_entry(state, envelope, statement, acting_user, timezone.now())
    _insert_signatures(entry, signers)
    _record_batches(entry, statement, batches)
    tlog.append_leaf(state, bytes.fromhex(entry.leaf_hash))
    state.save(update_fields=["size", "frontier"])
    _link_agreements(entry, statement, batches)
    return entry


def _lock_named_batches(statement: Statement) -> dict[str, Batch]:
    named = sorted(statement.named_batches)
    if not named:
        return {}
    # Lock in id order: two writers locking overlapping sets cannot deadlock.
    locked = {batch.id: batch for batch in Batch.objects.select_for_update().filter(id__in=named).order_by("id")}
    for batch_id in named:
        if batch_id not in locked:
            raise LedgerError("unknown_batch", f"Batch {batch_id} does not exist.")
    return locked


def _check_new_batches_absent(statement: Statement) -> None:
    new_ids = [output.batch for output in statement.outputs]
    taken = list(Batch.objects.filter(id__in=new_ids).values_list("id", flat=True)[:1])
    if taken:
        raise LedgerError("batch_exists", f"Batch {taken[0]} already exists; choose a new local id.")


def _check_custody(statement: Statement, batches: dict[str, Batch]) -> None:
    if statement.type == "certify":
        return
    for batch in batches.values():
        if batch.custodian_id != statement.issuer:
            raise LedgerError(
                "not_custodian",
                f"Batch {batch.id} is in the custody of {batch.custodian_id!r}, not {statement.issuer!r}.",
            )


def _check_heads(statement: Statement, batches: dict[str, Batch]) -> None:
    for batch_id, prev in sorted(statement.named_batches.items()):
        head = batches[batch_id].head
        if prev != head:
            raise LedgerError(
                "stale_head",
                f"prev for {batch_id} is not its head; rebuild the statement on the current head.",
                head=head,
            )


def _check_quantities(statement: Statement, batches: dict[str, Batch]) -> None:
    for batch_id, quantity in sorted(statement.consumed.items()):
        batch = batches[batch_id]
        if quantity > batch.remaining:
            raise LedgerError(
                "overdraw",
                f"Batch {batch_id} has {batch.remaining} {batch.unit} left; {quantity} was asked for.",
            )


def _check_vin(statement: Statement) -> None:
    if statement.vin and Claim.objects.filter(vin=statement.vin).exists():
        raise LedgerError("vin_claimed", f"VIN {statement.vin} has already been claimed.")


def _check_clock(statement: Statement, now: dt.datetime) -> None:
    earliest = now - settings.CAIRN_ISSUED_AT_MAX_PAST
    latest = now + settings.CAIRN_ISSUED_AT_MAX_FUTURE
    if not earliest <= statement.issued_at <= latest:
        raise LedgerError(
            "clock_skew",
            f"issued_at must lie between {earliest:%Y-%m-%dT%H:%M:%SZ} and {latest:%Y-%m-%dT%H:%M:%SZ}.",
        )


def _insert_entry(state: LogState, envelope, statement: Statement, acting_user, now: dt.datetime) -> Entry:
    stored = envelope.stored_json()
    integrated_time = int(now.timestamp())
    entry = Entry(
        index=state.size,
        entry_hash=envelope.entry_hash,
        envelope=stored,
        integrated_time=integrated_time,
        type=statement.type,
        issuer_id=statement.issuer,
        issued_at=statement.issued_at,
        occurred_at=statement.occurred_at,
        statement=statement.raw,
        submitted_by=acting_user,
    )
    entry.leaf_hash = merkle.leaf_hash(entry.leaf_input.encode("ascii")).hex()
    entry.save()
    return entry


def _insert_signatures(entry: Entry, signers: list[Signer]) -> None:
    EntrySignature.objects.bulk_create(
        [
            EntrySignature(
                entry=entry, key=signer.key, organization_id=signer.key.organization_id, is_issuer=signer.is_issuer
            )
            for signer in signers
        ]
    )


def _record_batches(entry: Entry, statement: Statement, batches: dict[str, Batch]) -> None:
    """Create the statement's new batches, link every batch it touches and move heads."""
    links = _links_for_existing(entry, statement, batches)
    created = _new_batches(entry, statement, batches)
    Batch.objects.bulk_create(created)
    links += [
        BatchLink(entry=entry, batch_id=batch.id, role=LinkRole.CREATED, custodian_after_id=statement.issuer)
        for batch in created
    ]
    BatchLink.objects.bulk_create(links)
    if batches:
        Batch.objects.bulk_update(batches.values(), ["head", "consumed", "custodian"])
    if statement.type == "claim":
        Claim.objects.create(
            vin=statement.vin,
            entry=entry,
            batch_id=statement.batch,
            manufacturer_id=statement.issuer,
            acquired=statement.acquired,
            placed_in_service=statement.placed_in_service,
            final_assembly_country=statement.final_assembly.country,
        )


ROLE_BY_TYPE = {
    "transform": LinkRole.CONSUMED,
    "transfer": LinkRole.TRANSFERRED,
    "certify": LinkRole.CERTIFIED,
    "claim": LinkRole.CLAIMED,
}


def _links_for_existing(entry: Entry, statement: Statement, batches: dict[str, Batch]) -> list[BatchLink]:
    links = []
    consumed = statement.consumed
    for batch_id, prev in sorted(statement.named_batches.items()):
        batch = batches[batch_id]
        before = batch.custodian_id
        quantity = consumed.get(batch_id)
        batch.head = entry.entry_hash
        batch.consumed += quantity or Decimal(0)
        if statement.type == "transfer":
            batch.custodian_id = statement.to
        links.append(
            BatchLink(
                entry=entry,
                batch_id=batch_id,
                role=ROLE_BY_TYPE[statement.type],
                prev=prev,
                quantity=quantity,
                custodian_before_id=before,
                custodian_after_id=batch.custodian_id,
            )
        )
    return links


def _new_batches(entry: Entry, statement: Statement, inputs: dict[str, Batch]) -> list[Batch]:
    carried_in = _carried(inputs.values())
    return [
        Batch(
            id=output.batch,
            owner_id=statement.issuer,
            material=output.material,
            unit=output.unit,
            quantity=output.quantity,
            custodian_id=statement.issuer,
            head=entry.entry_hash,
            created_by=entry,
            site_country=statement.site.country,
            minerals={name: str(kg) for name, kg in output.minerals.items()},
            carries=sorted(output.minerals) if statement.type == "origin" else carried_in,
            value_added_usd=output.value_added_usd,
            component=output.component,
        )
        for output in statement.outputs
    ]


def _carried(batches: Iterable[Batch]) -> list[str]:
    return sorted({name for batch in batches for name in batch.carries})


def _link_agreements(entry: Entry, statement: Statement, batches: dict[str, Batch]) -> None:
    if statement.type not in ("origin", "transform"):
        return
    minerals = statement.minerals if statement.type == "origin" else _carried(batches.values())
    if minerals:
        link_entry(entry, country=statement.site.country, minerals=minerals, on=statement.occurred_at.date())
