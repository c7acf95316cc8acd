"""The ledger's one write path: the contract's checks (§6), in its order.

`append_attestation` (POST /attestations) and `append_attestations` (POST
/attestations/batch, each envelope as if posted alone) run these checks,
and `validate_attestations` (POST /attestations/validate) runs them storing nothing;
the first that fails is the answer, and a refused statement leaves no
trace. Each check is one function below, in this order:

    1. body size                  check_body_size            payload_too_large
                                  (check_leaf_size, once parsed: the leaf input fits 65,535 bytes)
    2. envelope shape and base64  parse_envelope             malformed_envelope
    3. payload type               check_payload_type         unsupported_payload_type
    4. payload parse and schema   parse_payload              invalid_payload
                                  (check_recipient_known, under the lock: a transfer's `to`
                                  and a supplier certification's `taxpayer` exist)
    5. keys and signatures        check_keys_and_signatures  unknown_key, key_not_valid, bad_signature
    6. already logged statement   answer_already_logged      200, duplicate_statement
    7. issuer                     check_issuer               issuer_mismatch
    8. role                       check_role                 role_not_allowed
    9. batch ids                  check_batch_ids            forbidden, unknown_batch, batch_exists
   10. custody                    check_custody              not_custodian (unknown_batch: never held)
   11. prev heads                 check_prev_heads           stale_head
   12. quantities                 check_quantities           overdraw
   13. VIN                        check_vin                  vin_claimed
   14. issued_at window           check_issued_at_window     clock_skew

Checks 1 to 4 need no ledger state and run in the caller's thread
(`prepare`), which also checks each signature against its key's public key
ahead of the serial section (`precheck_signatures`). The rest need the
ledger as it stands under the log's lock: `check_against_ledger` runs them
for one statement against a `Book` (provenance.append.write), after taking
the caller's token again (`current_caller`: a token revoked meanwhile is
`not_authenticated`), and ends with the statement's rows.

How the statements reach the lock: inside a caller's transaction (tests,
scripts) in that transaction (`append_batch`); otherwise through the group
commit (provenance.append.sequencer, handed `append_batch_isolated` below), or,
with CAIRN_GROUP_COMMIT off, in a transaction of their own. The transaction,
locks, reads and the write are provenance.append.write's; the rows,
provenance.append.rows'.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_countries import countries

from cairn_core import dsse
from cairn_core.entries import leaf_input_text
from cairn_core.payload import PAYLOAD_TYPE, ROLES_FOR_TYPE, PayloadError, Statement, parse_statement
from cairn_core.tiles import MAX_LEAF_INPUT
from provenance.append import sequencer, write
from provenance.append.pending import AppendFailed, AppendResult, Caller, CheckedSignature, Outcome, Pending, Receipt
from provenance.append.sequencer import unconfirmed
from provenance.append.write import Book, Logged, Signer
from provenance.errors import LedgerError
from provenance.models import Batch, BatchLink, Entry, Organization, SigningKey

# The names other code and tests reach through this module (the entry
# points, and the write path's values and parts they drive directly).

__all__ = [
    "AppendFailed",
    "AppendResult",
    "Book",
    "Caller",
    "Pending",
    "Receipt",
    "append_attestation",
    "append_attestations",
    "append_batch",
    "append_batch_isolated",
    "append_handed_over",
    "prepare",
    "validate_attestations",
    "receipt",
    "unconfirmed",
]


# --- the entry points -----------------------------------------------------


def append_attestation(
    body: bytes,
    *,
    acting_org: Organization,
    acting_user: object = None,
    token: str | None = None,
    now: dt.datetime | None = None,
) -> AppendResult:
    """Check `body` (a DSSE envelope) posted by `acting_org` and log it.

    `token` is the API token the caller authenticated with: the append
    checks it again, and takes the caller's organisation as it is then."""
    (outcome,) = append_attestations([body], acting_org=acting_org, acting_user=acting_user, token=token, now=now)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def append_attestations(
    bodies: list[bytes],
    *,
    acting_org: Organization,
    acting_user: object = None,
    token: str | None = None,
    now: dt.datetime | None = None,
) -> list[Outcome]:
    """Check and log each of `bodies` (DSSE envelopes) as if it had been
    posted alone, in order: the result or the error of each, in order.

    Each envelope is checked against the ledger as the earlier ones left it
    (they are appended in one batch, in their order), so a later envelope may
    build on an earlier one's batch. One that fails leaves no trace and the
    others go on. POST /attestations is this with one envelope, POST
    /attestations/batch with up to a thousand."""
    return _each(bodies, Caller.of(acting_org, acting_user, token), now or timezone.now(), _append)


def validate_attestations(
    bodies: list[bytes],
    *,
    acting_org: Organization,
    acting_user: object = None,
    token: str | None = None,
    now: dt.datetime | None = None,
) -> list[Outcome]:
    """What `append_attestations` would answer for `bodies` against the
    ledger as it stands, storing nothing (POST /attestations/validate).

    The very checks of the write path, in its order: 1 to 4 here, the rest
    by `check_against_ledger` against a `Book` read without locks and never
    written (provenance.append.write.check_in_snapshot). A would-be new
    entry is a created `AppendResult` of which only the entry hash holds:
    its index and time are those it would have had in that snapshot."""
    return _each(bodies, Caller.of(acting_org, acting_user, token), now or timezone.now(), _check_in_snapshot)


def _check_in_snapshot(pendings: list[Pending]) -> list[Outcome]:
    return write.check_in_snapshot(pendings, check_against_ledger)


def _each(
    bodies: list[bytes], caller: Caller, now: dt.datetime, against_ledger: Callable[[list[Pending]], list[Outcome]]
) -> list[Outcome]:
    """Checks 1 to 4 of each body, then `against_ledger` (the append, or the
    check that stores nothing) for those that passed, in order: each body's
    outcome, in order."""
    prepared = [_prepared_or_refused(body, caller, now) for body in bodies]
    pendings = [item for item in prepared if isinstance(item, Pending)]
    if not pendings:
        return [item for item in prepared if not isinstance(item, Pending)]
    outcomes = iter(against_ledger(pendings))
    return [next(outcomes) if isinstance(item, Pending) else item for item in prepared]


def _prepared_or_refused(body: bytes, caller: Caller, now: dt.datetime) -> Pending | LedgerError:
    try:
        return prepare_statement(body, caller, now)
    except LedgerError as error:
        return error


def _append(pendings: list[Pending]) -> list[Outcome]:
    """Inside the caller's transaction, there; else through the group commit
    (or, without it, in a transaction of their own)."""
    if transaction.get_connection().in_atomic_block:
        return append_batch(pendings)
    if not settings.CAIRN_GROUP_COMMIT:
        return append_batch_isolated(pendings)
    return sequencer.submit(pendings, append_batch_isolated)


def append_batch(items: list[Pending]) -> list[Outcome]:
    """Append `items` in order in one transaction, each checked by
    `check_against_ledger`; each gets its result or its error."""
    return write.append_in_one_transaction(items, check_against_ledger)


def append_batch_isolated(items: list[Pending]) -> list[Outcome]:
    """`append_batch`, and when the batch fails as a whole, each statement
    again in a transaction of its own (what the group commit calls)."""
    return write.append_isolating_failures(append_batch, items)


def append_handed_over(items: list[Pending]) -> list[Outcome]:
    """`append_batch_isolated` for statements handed over by another process
    (the sequencer socket's, provenance.append.process): what that process
    checked is not taken on its word. Each statement is checked again as
    `prepare_statement` checks it (checks 1 to 4 of its stored envelope, and
    every signature against the registered key it names: `recheck`); one
    refused gets its error, the others are appended."""
    rechecked = [_rechecked_or_refused(item) for item in items]
    pendings = [item for item in rechecked if isinstance(item, Pending)]
    appended = iter(append_batch_isolated(pendings) if pendings else [])
    return [next(appended) if isinstance(item, Pending) else item for item in rechecked]


def _rechecked_or_refused(item: Pending) -> Pending | LedgerError:
    try:
        return recheck(item)
    except LedgerError as error:
        return error


def recheck(item: Pending) -> Pending:
    """`item` checked again in this process, its signatures' outcomes this process's own."""
    check_leaf_size(item.stored_envelope)
    check_payload_type(item.envelope)
    _check_minerals_known(item.statement.minerals)
    _check_countries_known(item.statement.countries)
    return dataclasses.replace(item, verified=precheck_signatures(item.envelope))


def prepare(
    body: bytes,
    *,
    acting_org: Organization,
    acting_user: object = None,
    token: str | None = None,
    now: dt.datetime | None = None,
) -> Pending:
    """The checks that need no ledger state: envelope, payload type, payload."""
    return prepare_statement(body, Caller.of(acting_org, acting_user, token), now or timezone.now())


def receipt(entry: Entry) -> dict[str, object]:
    """The answer to an accepted POST /attestations for a stored entry."""
    return Receipt(entry.entry_hash, entry.integrated_time, entry.leaf_hash, entry.index).as_body()


# --- checks 1 to 4: no ledger state -------------------------------------------


def prepare_statement(body: bytes, caller: Caller, now: dt.datetime) -> Pending:
    """Checks 1 to 4, in order; then each signature checked ahead of the lock."""
    check_body_size(body)
    envelope = parse_envelope(body)
    stored = envelope.stored_json()
    check_leaf_size(stored)
    check_payload_type(envelope)
    statement = parse_payload(envelope)
    return Pending(envelope, statement, caller, now, stored, precheck_signatures(envelope))


def check_body_size(body: bytes) -> None:
    """1. An envelope is at most CAIRN_MAX_BODY_BYTES (64 KiB)."""
    if len(body) > settings.CAIRN_MAX_BODY_BYTES:
        raise LedgerError("payload_too_large", f"An envelope is limited to {settings.CAIRN_MAX_BODY_BYTES} bytes.")


# The leaf input around an empty envelope and a one-digit time, with the time
# at most 20 characters (a 64-bit integer, its sign included).
LEAF_INPUT_OVERHEAD = len(leaf_input_text("", 0)) - 1 + 20  # 52


def check_leaf_size(stored_envelope: str) -> None:
    """1, continued. The leaf input fits the tiles' 2-byte framing (contract §4 v1.2).

    The rule, exactly: refused when len(stored envelope) + 52 > 65,535, the
    stored envelope being its canonical JSON (ASCII, so characters are
    bytes) and 52 the leaf input's fixed part with a 20-character time. The
    integrated time is not known yet and counted at its widest, so an
    envelope is never accepted whose leaf input could exceed 65,535 bytes,
    and nothing is hashed. It needs the parsed envelope (the stored form
    normalises base64 and drops whitespace), so it runs right after parsing,
    before any other check of a well-formed envelope.
    """
    if len(stored_envelope.encode()) + LEAF_INPUT_OVERHEAD > MAX_LEAF_INPUT:
        raise LedgerError(
            "payload_too_large",
            f"A stored envelope is limited to {MAX_LEAF_INPUT - LEAF_INPUT_OVERHEAD} bytes, so that its log "
            f"leaf input fits {MAX_LEAF_INPUT} bytes; this one is {len(stored_envelope.encode())}.",
        )


def parse_envelope(body: bytes) -> dsse.Envelope:
    """2. A DSSE envelope: its shape, base64 and signature list."""
    try:
        return dsse.parse_envelope(body)
    except dsse.EnvelopeError as exc:
        raise LedgerError("malformed_envelope", f"Not a DSSE envelope: {exc}.") from exc


def check_payload_type(envelope: dsse.Envelope) -> None:
    """3. The payload is a Cairn attestation."""
    if envelope.payload_type != PAYLOAD_TYPE:
        raise LedgerError(
            "unsupported_payload_type",
            f"payloadType must be {PAYLOAD_TYPE}, not {envelope.payload_type!r}.",
        )


def parse_payload(envelope: dsse.Envelope) -> Statement:
    """4. The payload parsed strictly against the schema, with its minerals
    and countries known."""
    try:
        statement = parse_statement(envelope.payload)
    except PayloadError as exc:
        raise LedgerError("invalid_payload", f"Invalid payload: {exc}.") from exc
    _check_minerals_known(statement.minerals)
    _check_countries_known(statement.countries)
    return statement


def _check_countries_known(codes: tuple[str, ...]) -> None:
    known = _country_codes()
    for code in codes:
        if code not in known:
            raise LedgerError("invalid_payload", f"Invalid payload: {code} is not an ISO 3166-1 alpha-2 country.")


@functools.cache
def _country_codes() -> frozenset[str]:
    """The ISO 3166-1 alpha-2 codes django-countries knows. Read once: `code
    in countries` builds its whole table again each time (about 0.1 ms),
    and the table changes only with the settings."""
    return frozenset(countries.countries)


def _check_minerals_known(names: frozenset[str]) -> None:
    if not names:
        return
    known = write.rules_for_appends().minerals
    unknown = sorted(names - known)
    if unknown:
        raise LedgerError(
            "invalid_payload",
            f"Invalid payload: {', '.join(unknown)} is not a critical mineral on the statute's list "
            f"(GET /api/v1/critical-minerals): use one of {', '.join(sorted(known))}.",
        )


# Public keys never change (a key's keyid is the SHA-256 of its public key,
# and revocation is a date): request threads remember them to check
# signatures outside the serial section.
_public_keys: dict[str, bytes] = {}


def precheck_signatures(envelope: dsse.Envelope) -> tuple[CheckedSignature, ...]:
    """Each signature by a registered key, checked against that key's public
    key (check 5 uses an outcome only for the public key it finds then)."""
    keyids = [signature.keyid for signature in envelope.signatures]
    missing = [keyid for keyid in keyids if keyid not in _public_keys]
    if missing:
        if len(_public_keys) >= 100_000:  # bounded: forget everything rather than grow
            _public_keys.clear()
        found = SigningKey.objects.filter(keyid__in=missing).values_list("keyid", "public_key")
        _public_keys.update((keyid, bytes(public_key)) for keyid, public_key in found)
    message = envelope.pae
    return tuple(
        CheckedSignature(signature.keyid, _public_keys[signature.keyid],
                         dsse.verify_signature(_public_keys[signature.keyid], message, signature.sig))
        for signature in envelope.signatures
        if signature.keyid in _public_keys
    )  # fmt: skip


# --- checks 4 (its ledger part) to 14: against the ledger, under the lock ------


def check_against_ledger(item: Pending, book: Book) -> AppendResult:
    """The checks that need the ledger, in order, against `book` (the ledger
    as the batch's earlier statements left it); then the statement's rows."""
    statement = item.statement
    caller = current_caller(item.caller, book.callers)
    check_recipient_known(statement, book.organizations)
    keys = check_keys_and_signatures(item, book.keys)
    logged = book.logged.get(item.envelope.entry_hash)
    if logged is not None and statement.issuer == caller.organization:
        return answer_already_logged(logged, item)
    signers = check_issuer(statement, keys, caller)
    check_role(statement, caller)
    batches = check_batch_ids(statement, book)
    check_custody(statement, batches, signers)
    check_prev_heads(statement, batches)
    check_quantities(statement, batches)
    check_vin(statement, book.claimed)
    check_issued_at_window(statement, item.now)
    return AppendResult(book.record(item, signers, batches), created=True)


def current_caller(caller: Caller, callers: dict[str, Caller]) -> Caller:
    """The caller as the ledger knows them now: their token must still exist
    for an active user in an organisation, whose roles are taken as they are."""
    if caller.token is None:
        return caller
    current = callers.get(caller.token)
    if current is None:
        raise LedgerError("not_authenticated", "This token is no longer valid for an active organisation member.")
    return current


def check_recipient_known(statement: Statement, organizations: set[str]) -> None:
    """4, against the ledger: a transfer's `to` and a supplier certification's
    `taxpayer` name known organisations."""
    if statement.to and statement.to not in organizations:
        raise LedgerError("invalid_payload", f"Invalid payload: to names unknown organisation {statement.to!r}.")
    if statement.taxpayer and statement.taxpayer not in organizations:
        raise LedgerError(
            "invalid_payload", f"Invalid payload: taxpayer names unknown organisation {statement.taxpayer!r}."
        )


def check_keys_and_signatures(item: Pending, keys: dict[str, SigningKey]) -> list[SigningKey]:
    """5. Every signature verifies against a registered, unrevoked key. An
    outcome checked ahead (`item.verified`) is used only when it was checked
    against the key's public key; otherwise the signature is checked here."""
    outcomes = {keyid: (public_key, ok) for keyid, public_key, ok in item.verified}
    verified = []
    for signature in item.envelope.signatures:
        key = keys.get(signature.keyid)
        if key is None:
            raise LedgerError("unknown_key", f"No registered key has keyid {signature.keyid}.")
        # Under the tail lock, which the revocation took too: a key revoked
        # while the statement waited is refused, whenever it was posted.
        if key.revoked_at is not None:
            raise LedgerError("key_not_valid", f"Key {signature.keyid} was revoked; sign with a valid key.")
        if not _signature_verifies(item.envelope, signature, bytes(key.public_key), outcomes.get(signature.keyid)):
            raise LedgerError(
                "bad_signature",
                f"The signature by {signature.keyid} does not verify over the envelope's PAE.",
            )
        verified.append(key)
    return verified


def _signature_verifies(
    envelope: dsse.Envelope, signature: dsse.Signature, public_key: bytes, checked: tuple[bytes, bool] | None
) -> bool:
    """`checked` is the outcome found ahead and the public key it was checked against."""
    if checked is not None and checked[0] == public_key:
        return checked[1]
    return dsse.verify_signature(public_key, envelope.pae, signature.sig)


def answer_already_logged(logged: Logged, item: Pending) -> AppendResult:
    """6. A statement already logged: the very same envelope is answered 200
    with its entry; other signatures over it are `duplicate_statement`.

    Only to its issuer's organisation, the one that may post it: anyone
    else goes on to check 7 and is `issuer_mismatch`, as when the statement
    is not logged, so that holding another's envelope tells nothing of
    whether or where it was logged."""
    if logged.envelope != item.stored_envelope:
        raise LedgerError(
            "duplicate_statement",
            f"This statement is already logged at index {logged.receipt.index} with other signatures.",
        )
    return AppendResult(logged.receipt, created=False)


def check_issuer(statement: Statement, keys: list[SigningKey], caller: Caller) -> list[Signer]:
    """7. The issuer is the caller's organisation, and one signature is an issuer key."""
    if statement.issuer != caller.organization:
        raise LedgerError(
            "issuer_mismatch",
            f"The payload's issuer is {statement.issuer!r} but you post for {caller.organization!r}.",
        )
    signers = [Signer(key, key.organization_id == statement.issuer) for key in keys]
    if not any(signer.is_issuer for signer in signers):
        raise LedgerError("issuer_mismatch", f"No signature is by a key of the issuer {statement.issuer!r}.")
    return signers


def check_role(statement: Statement, caller: Caller) -> None:
    """8. The caller's organisation has a role that may issue this type."""
    allowed = ROLES_FOR_TYPE[statement.type]
    if not caller.has_role(*allowed):
        raise LedgerError(
            "role_not_allowed",
            f"A {statement.type} attestation needs the role {' or '.join(allowed)}.",
        )


def check_batch_ids(statement: Statement, book: Book) -> dict[str, Batch]:
    """9. New batches carry the issuer's prefix; every batch named exists and
    no new one does. Returns the named batches (locked) by id."""
    _check_new_batch_prefixes(statement)
    for batch_id in sorted(statement.named_batches):
        if batch_id not in book.batches:
            raise LedgerError("unknown_batch", f"Batch {batch_id} does not exist.")
    for output in statement.outputs:
        if output.batch in book.batches or output.batch in book.taken:
            raise LedgerError("batch_exists", f"Batch {output.batch} already exists; choose a new local id.")
    return {batch_id: book.batches[batch_id] for batch_id in statement.named_batches}


def _check_new_batch_prefixes(statement: Statement) -> None:
    for output in statement.outputs:
        if output.batch.split(":", 1)[0] != statement.issuer:
            raise LedgerError(
                "forbidden",
                f"Only {output.batch.split(':', 1)[0]!r} may create batch {output.batch}.",
            )


# Statements that move a batch's head without holding it: its custodian co-signs instead.
CO_SIGNED_TYPES = ("certify", "supplier_certification")


def check_custody(statement: Statement, batches: dict[str, Batch], signers: list[Signer]) -> None:
    """10. The issuer holds every batch named; a certifier's `certify` needs
    its custodian's co-signature instead, and a supplier's
    `supplier_certification` by a past custodian (the supplier that sold
    the batch) needs both: to have held the batch, and its custodian's
    co-signature. A sale's issuer holds the batch.

    A batch the issuer has never held is answered as one that does not
    exist (`unknown_batch`, word for word), so that posting reveals neither
    its existence nor its custodian; and since this check comes before the
    heads (11), only a custodian, or a certifier the custodian co-signed
    with, ever learns a head from `stale_head`, and no certifier can move
    the head of a batch (making its custodian's pending statements stale)
    without the custodian's consent."""
    signed_by = {signer.key.organization_id for signer in signers}
    for batch in batches.values():
        if batch.custodian_id == statement.issuer:
            continue
        if statement.type == "certify" and batch.custodian_id in signed_by:
            continue
        if not _has_held(statement.issuer, batch):
            raise LedgerError("unknown_batch", f"Batch {batch.id} does not exist.")
        if statement.type == "supplier_certification" and batch.custodian_id in signed_by:
            continue
        if statement.type in CO_SIGNED_TYPES:
            raise LedgerError(
                "not_custodian", f"A certification of batch {batch.id} needs the co-signature of its custodian."
            )
        raise LedgerError(
            "not_custodian",
            f"Batch {batch.id} is in the custody of {batch.custodian_id!r}, not {statement.issuer!r}.",
        )


def _has_held(organization: str, batch: Batch) -> bool:
    """The organisation is or was the batch's custodian (the readers of
    GET /batches/{id} besides auditors). A query on the refusal path, and
    for a supplier certification by a past custodian that is not the
    batch's owner (the supplier that made the batch needs none)."""
    if organization in (batch.custodian_id, batch.owner_id):
        return True
    return BatchLink.objects.filter(batch_id=batch.id, custodian_after_id=organization).exists()


def check_prev_heads(statement: Statement, batches: dict[str, Batch]) -> None:
    """11. Each `prev` is its batch's head."""
    for batch_id, prev in sorted(statement.named_batches.items()):
        head = batches[batch_id].head
        if prev != head:
            raise LedgerError(
                "stale_head",
                f"prev for {batch_id} is not its head; rebuild the statement on the current head.",
                head=head,
            )


def check_quantities(statement: Statement, batches: dict[str, Batch]) -> None:
    """12. No batch gives more than it has left."""
    for batch_id, quantity in sorted(statement.consumed.items()):
        batch = batches[batch_id]
        if quantity > batch.remaining:
            raise LedgerError(
                "overdraw",
                f"Batch {batch_id} has {batch.remaining} {batch.unit} left; {quantity} was asked for.",
            )


def check_vin(statement: Statement, claimed: set[str]) -> None:
    """13. A VIN is claimed once."""
    if statement.vin in claimed:
        raise LedgerError("vin_claimed", f"VIN {statement.vin} has already been claimed.")


def check_issued_at_window(statement: Statement, now: dt.datetime) -> None:
    """14. `issued_at` lies within the accepted window around `now`."""
    earliest = now - settings.CAIRN_ISSUED_AT_MAX_PAST
    latest = now + settings.CAIRN_ISSUED_AT_MAX_FUTURE
    if not earliest <= statement.issued_at <= latest:
        raise LedgerError(
            "clock_skew",
            f"issued_at must lie between {earliest:%Y-%m-%dT%H:%M:%SZ} and {latest:%Y-%m-%dT%H:%M:%SZ}.",
        )
