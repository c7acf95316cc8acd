"""The ledger's one write path: check signed attestations and append them.

`append_attestation` runs the contract's checks (§6) in the contract's
order. The checks that need no ledger state (envelope, payload type,
payload) run in the caller's thread (`prepare`). The rest (the caller's
token and organisation, keys and signatures, an already logged statement,
issuer, role, batch ids, custody, heads, quantities, VIN, clock) run in
`append_batch`, inside the transaction that writes the entry: its
signatures, batch links, new batches, head updates, claim, Merkle nodes and
agreement links commit together or not at all.

Group commit. Every append holds the log's tail lock from its first read
to its commit (three round trips and a WAL flush), so appends are serial
and one transaction per statement would make that serial section the
ledger's ceiling. Outside a caller's own transaction, statements are
therefore handed to a sequencer (provenance.sequencer: a thread per
process, or one process per host) that appends whatever is waiting as one
batch in one transaction: the ledger state the batch needs is read once,
one query per kind (callers, keys, heads, logged statements, taken batch
ids, VINs); then the statements are checked one after another, in arrival
order, each against the ledger as the earlier ones left it. A statement
that fails its checks is answered with its error and leaves no trace; the
others are written together, and every caller is answered only after the
commit. Inside a caller's transaction (tests, scripts) the statement is
appended there, as a batch of one.

Locking (PostgreSQL), in this order, all held to commit:

1. **The log tail.** The single LogState row (SELECT … FOR UPDATE). It
   hands out indexes: the next index is read under the lock and written
   back in the same transaction, so a rollback returns the indexes too and
   they stay contiguous, with no gap and no reuse.
2. **Batch heads.** The rows of every existing batch the batch's statements
   name, in batch-id order.

Every append takes the tail first, so appends are serialised and every
check reads the ledger as the last commit left it: two statements on one
head cannot both pass (the later sees the new head and gets `stale_head`),
and the same statement, a new batch id or a VIN cannot be taken twice. The
head locks and the unique constraints stand behind that. A batch costs
three round trips: the locks and reads (sent together), the writes (sent
together), and COMMIT; on PostgreSQL a fourth after the locks arms the idle
timeout that frees them from a writer stopped mid-append.

SQLite has one writer at a time (settings use IMMEDIATE transactions).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone
from django_countries import countries

from agreements.snapshot import current_ruleset
from cairn_core import dsse, merkle
from cairn_core.payload import PAYLOAD_TYPE, ROLES_FOR_TYPE, PayloadError, Statement, parse_statement
from cairn_core.rules import RuleSet
from provenance import bulk, rows, sequencer, tlog
from provenance.errors import LedgerError
from provenance.linking import planned_agreements
from provenance.models import (
    Batch,
    BatchLink,
    Claim,
    Entry,
    EntryAgreementLink,
    EntrySignature,
    LinkRole,
    LogState,
    Member,
    MerkleNode,
    Organization,
    SigningKey,
)

log = logging.getLogger(__name__)


@dataclass
class Receipt:
    """What an accepted POST /attestations answers (contract §5). A new
    entry's index is given when its batch is written."""

    entry_hash: str
    integrated_time: int
    leaf_hash: str
    index: int | None = None

    def as_body(self) -> dict:
        return {
            "index": self.index,
            "entry_hash": self.entry_hash,
            "integrated_time": self.integrated_time,
            "leaf_hash": self.leaf_hash,
        }


@dataclass(frozen=True)
class AppendResult:
    receipt: Receipt
    created: bool

    @property
    def status(self) -> int:
        return 201 if self.created else 200

    def as_body(self) -> dict:
        return self.receipt.as_body()

    @functools.cached_property
    def entry(self) -> Entry:
        """The stored entry (a query: the write path itself keeps plain values)."""
        return Entry.objects.get(index=self.receipt.index)


def receipt(entry: Entry) -> dict:
    """The answer to an accepted POST /attestations for a stored entry."""
    return Receipt(entry.entry_hash, entry.integrated_time, entry.leaf_hash, entry.index).as_body()


@dataclass(frozen=True)
class Signer:
    key: SigningKey
    is_issuer: bool


@dataclass(frozen=True)
class Caller:
    """Who posts: their organisation's slug and roles, their user id, and the
    API token they authenticated with (None for in-process callers)."""

    organization: str
    roles: tuple[str, ...]
    user_id: int | None
    token: str | None = None

    @classmethod
    def of(cls, organization: Organization, user=None, token: str | None = None) -> Caller:
        return cls(organization.slug, tuple(organization.roles), getattr(user, "pk", None), token)

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)


@dataclass(frozen=True)
class Pending:
    """A statement that passed every check needing no ledger state (plain
    values only: it may travel to a sequencer process).

    The work that needs no lock is done before the serial section, by the
    request's thread: the envelope's stored form, and each signature checked
    against its key's public key when the key is known (`verified`: keyid,
    the public key it was checked against, and the outcome). The append
    still looks every key up under the lock, in the contract's order, and
    uses an outcome only for the very public key it finds."""

    envelope: dsse.Envelope
    statement: Statement
    caller: Caller
    now: dt.datetime
    stored: str = ""
    verified: tuple[tuple[str, bytes, bool], ...] = ()


def append_attestation(
    body: bytes,
    *,
    acting_org: Organization,
    acting_user=None,
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
    acting_user=None,
    token: str | None = None,
    now: dt.datetime | None = None,
) -> list[AppendResult | LedgerError | AppendFailed]:
    """Check and log each of `bodies` (DSSE envelopes) as if it had been
    posted alone, in order: the result or the error of each, in order.

    Each envelope is checked against the ledger as the earlier ones left it
    (they are appended in one batch, in their order), so a later envelope may
    build on an earlier one's batch. One that fails leaves no trace and the
    others go on. POST /attestations is this with one envelope, POST
    /attestations/batch with up to a thousand."""
    caller = Caller.of(acting_org, acting_user, token)
    prepared: list[Pending | LedgerError] = []
    for body in bodies:
        try:
            prepared.append(_prepare(body, caller, now or timezone.now()))
        except LedgerError as error:
            prepared.append(error)
    pendings = [item for item in prepared if isinstance(item, Pending)]
    if not pendings:
        return prepared
    if transaction.get_connection().in_atomic_block:
        appended = iter(append_batch(pendings))
    elif not settings.CAIRN_GROUP_COMMIT:
        appended = iter(append_batch_isolated(pendings))
    else:
        appended = iter(sequencer.submit(pendings))
    return [next(appended) if isinstance(item, Pending) else item for item in prepared]


def prepare(
    body: bytes,
    *,
    acting_org: Organization,
    acting_user=None,
    token: str | None = None,
    now: dt.datetime | None = None,
) -> Pending:
    """The checks that need no ledger state: envelope, payload type, payload."""
    return _prepare(body, Caller.of(acting_org, acting_user, token), now or timezone.now())


def _prepare(body: bytes, caller: Caller, now: dt.datetime) -> Pending:
    if len(body) > settings.CAIRN_MAX_BODY_BYTES:
        raise LedgerError("payload_too_large", f"An envelope is limited to {settings.CAIRN_MAX_BODY_BYTES} bytes.")
    envelope = _parse_envelope(body)
    statement = _parse_statement(envelope)
    return Pending(envelope, statement, caller, now, envelope.stored_json(), _checked_signatures(envelope))


# Public keys never change (a key's keyid is the SHA-256 of its public key,
# and revocation is a date): request threads remember them to check
# signatures outside the serial section.
_public_keys: dict[str, bytes] = {}


def _checked_signatures(envelope: dsse.Envelope) -> tuple[tuple[str, bytes, bool], ...]:
    """Each signature by a registered key, checked against that key's public key."""
    keyids = [signature.keyid for signature in envelope.signatures]
    missing = [keyid for keyid in keyids if keyid not in _public_keys]
    if missing:
        if len(_public_keys) >= 100_000:  # bounded: forget everything rather than grow
            _public_keys.clear()
        found = SigningKey.objects.filter(keyid__in=missing).values_list("keyid", "public_key")
        _public_keys.update((keyid, bytes(public_key)) for keyid, public_key in found)
    message = envelope.pae
    return tuple(
        (signature.keyid, _public_keys[signature.keyid],
         dsse.verify_signature(_public_keys[signature.keyid], message, signature.sig))
        for signature in envelope.signatures
        if signature.keyid in _public_keys
    )  # fmt: skip


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
    _check_minerals_known(statement.minerals)
    _check_countries_known(statement.countries)
    return statement


def _check_countries_known(codes: tuple[str, ...]) -> None:
    for code in codes:
        if code not in countries:
            raise LedgerError("invalid_payload", f"Invalid payload: {code} is not an ISO 3166-1 alpha-2 country.")


def _check_minerals_known(names: frozenset[str]) -> None:
    if not names:
        return
    known = rules_for_appends().minerals
    unknown = sorted(names - known)
    if unknown:
        raise LedgerError(
            "invalid_payload",
            f"Invalid payload: {', '.join(unknown)} is not a critical mineral on the statute's list "
            f"(GET /api/v1/critical-minerals): use one of {', '.join(sorted(known))}.",
        )


# --- checks against the ledger, in the contract's order (§6) ----------------


def _current_caller(caller: Caller, callers: dict[str, Caller]) -> Caller:
    """The caller as the ledger knows them now: their token must still exist
    for an active user in an organisation, whose roles are taken as they are."""
    if caller.token is None:
        return caller
    current = callers.get(caller.token)
    if current is None:
        raise LedgerError("not_authenticated", "This token is no longer valid for an active organisation member.")
    return current


def _check_recipient_known(statement: Statement, organizations: set[str]) -> None:
    if statement.to and statement.to not in organizations:
        raise LedgerError("invalid_payload", f"Invalid payload: to names unknown organisation {statement.to!r}.")


def _verify_signatures(
    envelope: dsse.Envelope,
    keys: dict[str, SigningKey],
    now: dt.datetime,
    checked: tuple[tuple[str, bytes, bool], ...] = (),
) -> list[SigningKey]:
    """Every signature must verify against a registered key valid now.
    `checked` holds outcomes already computed against a public key: one is
    used only when it is the key's public key, else the signature is checked here."""
    message = envelope.pae
    outcomes = {keyid: (public_key, ok) for keyid, public_key, ok in checked}
    verified = []
    for signature in envelope.signatures:
        key = keys.get(signature.keyid)
        if key is None:
            raise LedgerError("unknown_key", f"No registered key has keyid {signature.keyid}.")
        if not key.is_valid_at(now):
            raise LedgerError("key_not_valid", f"Key {signature.keyid} was revoked; sign with a valid key.")
        public_key = bytes(key.public_key)
        known = outcomes.get(signature.keyid)
        ok = known[1] if known and known[0] == public_key else dsse.verify_signature(public_key, message, signature.sig)
        if not ok:
            raise LedgerError(
                "bad_signature",
                f"The signature by {signature.keyid} does not verify over the envelope's PAE.",
            )
        verified.append(key)
    return verified


def _check_issuer(statement: Statement, keys: list[SigningKey], caller: Caller) -> list[Signer]:
    if statement.issuer != caller.organization:
        raise LedgerError(
            "issuer_mismatch",
            f"The payload's issuer is {statement.issuer!r} but you post for {caller.organization!r}.",
        )
    signers = [Signer(key, key.organization_id == statement.issuer) for key in keys]
    if not any(signer.is_issuer for signer in signers):
        raise LedgerError("issuer_mismatch", f"No signature is by a key of the issuer {statement.issuer!r}.")
    return signers


def _check_role(statement: Statement, caller: Caller) -> None:
    allowed = ROLES_FOR_TYPE[statement.type]
    if not caller.has_role(*allowed):
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


# --- the batch: checks against the locked ledger, then one write ------------


# Unique constraints back the checks made under the tail lock. Should a
# writer that bypasses the write path take the same id first, the batch is
# checked again.
MAX_ATTEMPTS = 3

_rules_cache: tuple[float, RuleSet] | None = None


def rules_for_appends() -> RuleSet:
    """The rules an append needs (the mineral list, agreements to link), re-read
    when older than CAIRN_RULES_RECHECK_SECONDS: checking their version is a
    query, too dear for every statement. Links record the version they used,
    and `relink_agreements` recomputes them when agreements change."""
    global _rules_cache
    now = time.monotonic()
    if _rules_cache is None or now - _rules_cache[0] >= settings.CAIRN_RULES_RECHECK_SECONDS:
        _rules_cache = (now, current_ruleset())
    return _rules_cache[1]


class AppendFailed(RuntimeError):
    """A statement's append failed for a reason of the server's (not a
    refusal): its transaction rolled back, so nothing of it was stored."""


def append_batch_isolated(items: list[Pending]) -> list[AppendResult | LedgerError | AppendFailed]:
    """`append_batch`, and when the batch fails as a whole, each statement
    again in a transaction of its own: one statement that breaks the write
    fails alone, and the others of its batch are appended."""
    try:
        return append_batch(items)
    except Exception as exc:
        if is_lock_timeout(exc):
            _fresh_connection()
            return [_busy()] * len(items)
        if len(items) == 1:
            return [AppendFailed(f"the append could not be written: {exc!r}")]
        log.exception("append batch of %d failed; appending its statements one by one", len(items))
        _fresh_connection()
    outcomes: list[AppendResult | LedgerError | AppendFailed] = []
    for item in items:
        try:
            (outcome,) = append_batch([item])
        except Exception as exc:
            log.exception("append of %s failed", item.envelope.entry_hash)
            _fresh_connection()
            outcome = AppendFailed(f"the append could not be written: {exc!r}")
        outcomes.append(outcome)
    return outcomes


def _busy() -> LedgerError:
    return LedgerError(
        "unavailable",
        f"The log stayed locked for {settings.CAIRN_APPEND_LOCK_TIMEOUT:g} s; nothing of this request was "
        "stored. Post it again.",
    )


def unconfirmed(seconds: float) -> LedgerError:
    """The answer when an append's outcome is not known in time."""
    return LedgerError(
        "outcome_unknown",
        f"Cairn could not confirm within {seconds:g} s whether this statement was logged: it may still be. "
        "Post the very same envelope again: 200 means it was logged, 201 that it is logged now.",
    )


def _fresh_connection() -> None:
    """After a failed transaction, start the next on a new connection (unless
    in a caller's transaction, which is the caller's to end)."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        connection.close()


def append_batch(items: list[Pending]) -> list[AppendResult | LedgerError]:
    """Append `items` in order in one transaction; each gets its result or its error."""
    # Rules are read before the locks: a rule change racing an append only
    # makes its links one version old, and relinking mends that.
    ruleset = rules_for_appends()
    for attempt in range(MAX_ATTEMPTS):
        try:
            with transaction.atomic():
                book = Book.load(items)
                outcomes = [book.try_append(item) for item in items]
                book.write(ruleset)
            transaction.on_commit(functools.partial(_log_appended, items, outcomes))
            return outcomes
        except IntegrityError:
            # Someone committed the same statement, batch id or VIN between
            # our checks and our insert: check again against it.
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# The columns the write path fills, in the order its rows give them.
ENTRY = bulk.columns(
    Entry,
    "index",
    "entry_hash",
    "envelope",
    "integrated_time",
    "leaf_hash",
    "type",
    "issuer",
    "issued_at",
    "occurred_at",
    "statement",
    "submitted_by",
)
SIGNATURE = bulk.columns(EntrySignature, "entry", "key", "organization", "is_issuer")
BATCH = bulk.columns(
    Batch,
    "id",
    "owner",
    "material",
    "unit",
    "quantity",
    "consumed",
    "custodian",
    "head",
    "created_by",
    "site_country",
    "minerals",
    "carries",
    "value_added_usd",
    "component",
)
BATCH_HEAD = bulk.columns(Batch, "id", "head", "consumed", "custodian")
LINK = bulk.columns(BatchLink, "entry", "batch", "role", "prev", "quantity", "custodian_before", "custodian_after")
CLAIM = bulk.columns(
    Claim, "vin", "entry", "batch", "manufacturer", "acquired", "placed_in_service", "final_assembly_country"
)
NODE = bulk.columns(MerkleNode, "id", "hash")
AGREEMENT_LINK = bulk.columns(
    EntryAgreementLink, "entry", "agreement", "mineral", "country", "rules_version", "linked_at"
)
LOG_STATE = bulk.columns(LogState, "id", "size", "frontier")


@dataclass
class NewEntry:
    """An entry the batch will write: its receipt (the index comes at the
    write) and its other columns, in ENTRY's order after the index."""

    receipt: Receipt
    values: tuple
    envelope: str
    country: str | None = None  # origin and transform: linked to agreements
    minerals: tuple[str, ...] = ()
    occurred_on: dt.date | None = None


class Book:
    """The ledger as a batch sees it: the locked tail and heads, plus what
    its earlier statements wrote. Statements are checked here one by one;
    `write` then numbers the entries and writes every row at once."""

    def __init__(
        self,
        *,
        state: LogState,
        callers: dict[str, Caller],
        keys: dict[str, SigningKey],
        organizations: set[str],
        batches: dict[str, Batch],
        logged: dict[str, tuple[Receipt, str]],
        taken: set[str],
        claimed: set[str],
    ) -> None:
        self.state = state
        self.callers = callers
        self.keys = keys
        self.organizations = organizations
        self.batches = batches
        self.logged = logged
        self.taken = taken
        self.claimed = claimed
        self.entries: list[NewEntry] = []
        # Rows that name an entry hold its receipt until the entry has an index.
        self.signatures: list[tuple[Receipt, str, str, bool]] = []
        self.created: list[tuple[Receipt, Batch]] = []
        self.touched: dict[str, Batch] = {}
        self.links: list[tuple] = []
        self.claims: list[tuple] = []

    @classmethod
    def load(cls, items: list[Pending]) -> Book:
        """Lock the log's tail, then the heads the batch names, and read what
        its statements need of the ledger: one query per kind, all sent in
        one round trip, each run once the locks before it are held."""
        statements = [item.statement for item in items]
        tokens = {item.caller.token for item in items if item.caller.token}
        _, state, callers, keys, organizations, batches, logged, taken, claimed = rows.run(
            _lock_timeout(),
            rows.models(LogState, "id", [1], lock=True),
            callers_by_token(tokens),
            rows.models(SigningKey, "keyid", {sig.keyid for item in items for sig in item.envelope.signatures}),
            rows.values_of(Organization, "slug", "slug", {s.to for s in statements if s.to}),
            # Heads in id order: two writers locking overlapping sets cannot deadlock.
            rows.models(Batch, "id", {b for s in statements for b in s.named_batches}, lock=True, order_by="id"),
            logged_by_hash({item.envelope.entry_hash for item in items}),
            rows.values_of(Batch, "id", "id", {output.batch for s in statements for output in s.outputs}),
            rows.values_of(Claim, "vin", "vin", {s.vin for s in statements if s.vin}),
        )
        _arm_idle_timeout()
        return cls(
            state=state[0] if state else LogState.objects.select_for_update().get_or_create(id=1)[0],
            callers=callers,
            keys={key.keyid: key for key in keys},
            organizations=organizations,
            batches={batch.id: batch for batch in batches},
            logged=logged,
            taken=taken,
            claimed=claimed,
        )

    def try_append(self, item: Pending) -> AppendResult | LedgerError:
        try:
            return self.append(item)
        except LedgerError as error:
            return error

    def append(self, item: Pending) -> AppendResult:
        """The checks against the ledger, in the contract's order, then the entry's rows."""
        statement = item.statement
        caller = _current_caller(item.caller, self.callers)
        _check_recipient_known(statement, self.organizations)
        keys = _verify_signatures(item.envelope, self.keys, item.now, item.verified)
        existing = self.logged.get(item.envelope.entry_hash)
        if existing is not None:
            return _answer_for_logged(*existing, item.stored or item.envelope.stored_json())
        signers = _check_issuer(statement, keys, caller)
        _check_role(statement, caller)
        _check_new_batch_prefixes(statement)
        batches = self._named_batches(statement)
        self._check_new_batches_absent(statement)
        _check_custody(statement, batches)
        _check_heads(statement, batches)
        _check_quantities(statement, batches)
        if statement.vin in self.claimed:
            raise LedgerError("vin_claimed", f"VIN {statement.vin} has already been claimed.")
        _check_clock(statement, item.now)
        return AppendResult(self._record(item, signers, batches), created=True)

    def _named_batches(self, statement: Statement) -> dict[str, Batch]:
        for batch_id in sorted(statement.named_batches):
            if batch_id not in self.batches:
                raise LedgerError("unknown_batch", f"Batch {batch_id} does not exist.")
        return {batch_id: self.batches[batch_id] for batch_id in statement.named_batches}

    def _check_new_batches_absent(self, statement: Statement) -> None:
        for output in statement.outputs:
            if output.batch in self.batches or output.batch in self.taken:
                raise LedgerError("batch_exists", f"Batch {output.batch} already exists; choose a new local id.")

    def _record(self, item: Pending, signers: list[Signer], batches: dict[str, Batch]) -> Receipt:
        statement = item.statement
        entry = _new_entry(item, timezone.now())
        receipt = entry.receipt
        self.entries.append(entry)
        self.logged[receipt.entry_hash] = (receipt, entry.envelope)
        self.signatures += [
            (receipt, signer.key.keyid, signer.key.organization_id, signer.is_issuer) for signer in signers
        ]
        self.links += _move_heads(receipt, statement, batches)
        self.touched.update({b.id: b for b in batches.values() if not b._state.adding})
        created = _new_batches(receipt, statement, batches)
        self.created += [(receipt, batch) for batch in created]
        self.batches.update({batch.id: batch for batch in created})
        self.links += [(receipt, batch.id, LinkRole.CREATED, "", None, None, statement.issuer) for batch in created]
        if statement.type == "claim":
            self.claims.append(_claim(receipt, statement))
            self.claimed.add(statement.vin)
        if statement.type in ("origin", "transform"):
            entry.country = statement.site.country
            entry.minerals = tuple(
                sorted(statement.minerals) if statement.type == "origin" else _carried(batches.values())
            )
            entry.occurred_on = statement.occurred_at.date()
        return receipt

    def write(self, ruleset: RuleSet) -> None:
        """Number the entries and write every row of the batch, in one round trip."""
        if not self.entries:
            return
        nodes = self._number_entries(self.state)
        now = timezone.now()
        bulk.write(
            inserts=[
                (ENTRY, [(entry.receipt.index, *entry.values) for entry in self.entries]),
                (SIGNATURE, [(receipt.index, *rest) for receipt, *rest in self.signatures]),
                (BATCH, [_batch_row(batch, receipt) for receipt, batch in self.created]),
                (LINK, [(receipt.index, *rest) for receipt, *rest in self.links]),
                (CLAIM, [(vin, receipt.index, *rest) for vin, receipt, *rest in self.claims]),
                (NODE, nodes),
                (AGREEMENT_LINK, list(self._agreement_links(ruleset, now))),
            ],
            updates=[
                (BATCH_HEAD, [(b.id, b.head, b.consumed, b.custodian_id) for b in self.touched.values()]),
                (LOG_STATE, [(self.state.id, self.state.size, self.state.frontier)]),
            ],
        )

    def _number_entries(self, state: LogState) -> list[tuple[int, str]]:
        """Give the entries the next indexes and grow the tree over them."""
        for offset, entry in enumerate(self.entries):
            entry.receipt.index = state.size + offset
        return tlog.grow(state, [bytes.fromhex(entry.receipt.leaf_hash) for entry in self.entries])

    def _agreement_links(self, ruleset: RuleSet, now: dt.datetime) -> Iterable[tuple]:
        planned: dict[tuple, list[tuple[str, str]]] = {}  # a batch's entries share few countries and dates
        for entry in self.entries:
            if entry.country is None:
                continue
            key = (entry.country, entry.minerals, entry.occurred_on)
            if key not in planned:
                planned[key] = planned_agreements(
                    country=entry.country, minerals=entry.minerals, on=entry.occurred_on, ruleset=ruleset
                )
            for agreement, mineral in planned[key]:
                yield (entry.receipt.index, agreement, mineral, entry.country, ruleset.version, now)


append_log = logging.getLogger("cairn.append")


def _log_appended(items: list[Pending], outcomes: list) -> None:
    """One JSON line per new entry on `cairn.append`, once it is committed."""
    if not append_log.isEnabledFor(logging.INFO):
        return
    for item, outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, AppendResult) and outcome.created:
            receipt = outcome.receipt
            append_log.info(
                "append",
                extra={"index": receipt.index, "entry_hash": receipt.entry_hash, "issuer": item.statement.issuer},
            )


def _lock_timeout() -> rows.Query | list:
    """PostgreSQL: wait at most CAIRN_APPEND_LOCK_TIMEOUT for the log's locks
    (then 503 `unavailable`, nothing stored), so that a writer stuck holding
    them (stopped, hung) makes appends fail within a stated time instead of
    hanging. Sent with the locks, in their round trip."""
    if transaction.get_connection().vendor != "postgresql":
        return []
    timeout = f"{int(settings.CAIRN_APPEND_LOCK_TIMEOUT * 1000)}ms"
    return rows.Query("SELECT set_config('lock_timeout', %s, true)", [timeout], lambda found: None)


def _arm_idle_timeout() -> None:
    """PostgreSQL: a writer that sits idle CAIRN_APPEND_IDLE_TIMEOUT inside its
    append, holding the log's locks (stopped by SIGSTOP, a hung host), loses
    its session, so the locks are released and the other appends go on. A
    round trip of its own after the locks are taken: PostgreSQL does not arm
    idle_in_transaction_session_timeout after a pipeline."""
    if transaction.get_connection().vendor != "postgresql" or not settings.CAIRN_APPEND_IDLE_TIMEOUT:
        return
    with rows.cursor() as db:
        db.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', %s, true)",
            [f"{int(settings.CAIRN_APPEND_IDLE_TIMEOUT * 1000)}ms"],
        )


def is_lock_timeout(exc: BaseException) -> bool:
    """The append gave up waiting for the log's locks (nothing was written)."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == "55P03" or "database is locked" in str(exc)


def logged_by_hash(hashes: set[str]) -> rows.Query | dict:
    """The query for entries already logged with these entry hashes: each
    one's receipt and stored envelope."""
    if not hashes:
        return {}
    entry = rows.shape(Entry)
    where, params = rows.one_of(entry.column("entry_hash"), sorted(hashes))
    sql = (
        f"SELECT {entry.column('index')}, {entry.column('entry_hash')}, {entry.column('integrated_time')}, "
        f"{entry.column('leaf_hash')}, {entry.column('envelope')} FROM {entry.table} WHERE {where}"
    )

    def build(found: list[tuple]) -> dict[str, tuple[Receipt, str]]:
        return {
            entry_hash: (Receipt(entry_hash, integrated_time, leaf_hash, index), envelope)
            for index, entry_hash, integrated_time, leaf_hash, envelope in found
        }

    return rows.Query(sql, params, build)


def callers_by_token(tokens: set[str]) -> rows.Query | dict:
    """The query for each token's caller as the ledger knows them now:
    tokens of inactive users or of users in no organisation are left out."""
    if not tokens:
        return {}
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    token, user, member, org = (rows.shape(m) for m in (Token, get_user_model(), Member, Organization))
    where, params = rows.one_of(f"t.{token.column('key')}", sorted(tokens))
    sql = (
        f"SELECT t.{token.column('key')}, o.{org.column('slug')}, o.{org.column('roles')}, u.{user.column('id')} "
        f"FROM {token.table} t JOIN {user.table} u ON u.{user.column('id')} = t.{token.column('user')} "
        f"JOIN {member.table} m ON m.{member.column('user')} = u.{user.column('id')} "
        f"JOIN {org.table} o ON o.{org.column('slug')} = m.{member.column('organization')} "
        f"WHERE u.{user.column('is_active')} AND {where}"
    )

    def build(found: list[tuple]) -> dict[str, Caller]:
        return {key: Caller(slug, tuple(org.convert("roles", roles)), uid, key) for key, slug, roles, uid in found}

    return rows.Query(sql, params, build)


def _answer_for_logged(logged: Receipt, stored_envelope: str, posted: str) -> AppendResult:
    if stored_envelope != posted:
        raise LedgerError(
            "duplicate_statement",
            f"This statement is already logged at index {logged.index} with other signatures.",
        )
    return AppendResult(logged, created=False)


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


def _check_clock(statement: Statement, now: dt.datetime) -> None:
    earliest = now - settings.CAIRN_ISSUED_AT_MAX_PAST
    latest = now + settings.CAIRN_ISSUED_AT_MAX_FUTURE
    if not earliest <= statement.issued_at <= latest:
        raise LedgerError(
            "clock_skew",
            f"issued_at must lie between {earliest:%Y-%m-%dT%H:%M:%SZ} and {latest:%Y-%m-%dT%H:%M:%SZ}.",
        )


def _new_entry(item: Pending, now: dt.datetime) -> NewEntry:
    """The entry, without its index: that is given under the tail lock."""
    statement = item.statement
    envelope = item.envelope
    stored = item.stored or envelope.stored_json()
    integrated_time = int(now.timestamp())
    leaf_hash = merkle.leaf_hash(Entry.leaf_input_of(stored, integrated_time).encode("ascii")).hex()
    values = (
        envelope.entry_hash,
        stored,
        integrated_time,
        leaf_hash,
        statement.type,
        statement.issuer,
        statement.issued_at,
        statement.occurred_at,
        statement.raw,
        item.caller.user_id,
    )
    return NewEntry(Receipt(envelope.entry_hash, integrated_time, leaf_hash), values, stored)


LINK_ROLE_BY_TYPE = {
    "transform": LinkRole.CONSUMED,
    "transfer": LinkRole.TRANSFERRED,
    "certify": LinkRole.CERTIFIED,
    "claim": LinkRole.CLAIMED,
}


def _move_heads(receipt: Receipt, statement: Statement, batches: dict[str, Batch]) -> list[tuple]:
    """Link the entry to each batch it builds on (LINK's values, the entry's
    receipt first), and make it their head."""
    links = []
    consumed = statement.consumed
    for batch_id, prev in sorted(statement.named_batches.items()):
        batch = batches[batch_id]
        before = batch.custodian_id
        quantity = consumed.get(batch_id)
        batch.head = receipt.entry_hash
        batch.consumed += quantity or Decimal(0)
        if statement.type == "transfer":
            batch.custodian_id = statement.to
        links.append((receipt, batch_id, LINK_ROLE_BY_TYPE[statement.type], prev, quantity, before, batch.custodian_id))
    return links


def _new_batches(receipt: Receipt, statement: Statement, inputs: dict[str, Batch]) -> list[Batch]:
    """The batches the entry creates (created_by is set when they are written)."""
    carried_in = _carried(inputs.values())
    return [
        Batch(
            id=output.batch,
            owner_id=statement.issuer,
            material=output.material,
            unit=output.unit,
            quantity=output.quantity,
            consumed=Decimal(0),
            custodian_id=statement.issuer,
            head=receipt.entry_hash,
            site_country=statement.site.country,
            minerals={name: str(kg) for name, kg in output.minerals.items()},
            carries=sorted(output.minerals) if statement.type == "origin" else carried_in,
            value_added_usd=output.value_added_usd,
            component=output.component,
        )
        for output in statement.outputs
    ]


def _batch_row(batch: Batch, receipt: Receipt) -> tuple:
    """BATCH's values of a batch the batch creates, as it stands after the batch."""
    return (
        batch.id,
        batch.owner_id,
        batch.material,
        batch.unit,
        batch.quantity,
        batch.consumed,
        batch.custodian_id,
        batch.head,
        receipt.index,
        batch.site_country.code,  # a Country through the field; its code is stored
        batch.minerals,
        batch.carries,
        batch.value_added_usd,
        batch.component,
    )


def _carried(batches: Iterable[Batch]) -> list[str]:
    return sorted({name for batch in batches for name in batch.carries})


def _claim(receipt: Receipt, statement: Statement) -> tuple:
    """CLAIM's values, with the entry's receipt in place of its index."""
    return (
        statement.vin,
        receipt,
        statement.batch,
        statement.issuer,
        statement.acquired,
        statement.placed_in_service,
        statement.final_assembly.country,
    )
