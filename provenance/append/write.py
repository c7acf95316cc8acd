"""The write beside the checks: one transaction per batch of statements.

provenance.append.checks says what is checked and in which order; this module
holds the ledger still while that happens and writes what passed.
`append_in_one_transaction` locks the log, reads in one round trip what
the batch's statements need (`Book.load`), hands each statement to the
checks it is given, in arrival order, each against the ledger as the
earlier ones left it (`Book`), then numbers the new entries, grows the
Merkle tree and writes every row of the batch at once (`Book.write`). A
statement that fails its checks is answered with its error and leaves no
trace; the others commit together: signatures, batch links, new batches,
head updates, claims, Merkle nodes and agreement links, or nothing.

Group commit. Every append holds the log's tail lock from its first read
to its commit (three round trips and a WAL flush), so appends are serial
and one transaction per statement would make that serial section the
ledger's ceiling. Outside a caller's own transaction, statements are
therefore handed to a sequencer (provenance.append.sequencer: a thread per
process, or one process per host) that appends whatever is waiting as one
batch: the ledger state the batch needs is read once, one query per kind
(callers, keys, heads, logged statements, taken batch ids, VINs). When a
batch fails as a whole, `append_isolating_failures` appends it again in
parts (by organisation, then by halves) down to the statement that breaks
the write, which fails alone; its organisation's statements are then
appended apart from the others' for a while.

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

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, cast

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from agreements.snapshot import current_ruleset
from cairn_core.payload import Statement
from cairn_core.regimes.s30d.rules import RuleSet
from provenance import tasks, tlog
from provenance.append import lookups, rows, sql
from provenance.append.pending import Append, AppendFailed, AppendResult, Caller, Outcome, Pending, Receipt
from provenance.append.rows import BatchRow, ClaimRow, LinkRow, NewEntry, SignatureRow
from provenance.errors import LedgerError
from provenance.models import Batch, Claim, Entry, LogState, Member, Organization, SigningKey

log = logging.getLogger(__name__)
append_log = logging.getLogger("cairn.append")

# Unique constraints back the checks made under the tail lock. Should a
# writer that bypasses the write path take the same id first, the batch is
# checked again.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Signer:
    key: SigningKey
    is_issuer: bool


class Logged(NamedTuple):
    """An entry already in the log: its receipt and its stored envelope."""

    receipt: Receipt
    envelope: str


# The checks a statement goes through against the ledger, ending with its
# record (provenance.append.checks.check_against_ledger); raises LedgerError.
Check = Callable[[Pending, "Book"], AppendResult]


# --- the transaction ----------------------------------------------------------


def append_in_one_transaction(items: list[Pending], check: Check) -> list[Outcome]:
    """Check `items` in order with `check` and write those that pass, in one
    transaction; each gets its result or its error."""
    # Rules are read before the locks: a rule change racing an append only
    # makes its links one version old, and relinking mends that.
    ruleset = rules_for_appends()
    for attempt in range(MAX_ATTEMPTS):
        try:
            with transaction.atomic():
                book = Book.load(items)
                outcomes: list[Outcome] = [book.try_append(item, check) for item in items]
                book.write(ruleset)
            transaction.on_commit(functools.partial(_log_appended, items, outcomes))
            transaction.on_commit(functools.partial(_derive_events, outcomes))
            return outcomes
        except IntegrityError as exc:
            # Someone committed the same statement, batch id or VIN between
            # our checks and our insert: check again against it. Any other
            # constraint would fail again: no second try.
            if attempt == MAX_ATTEMPTS - 1 or not _is_unique_violation(exc):
                raise
    raise AssertionError("unreachable")


def check_in_snapshot(items: list[Pending], check: Check) -> list[Outcome]:
    """Check `items` in order with `check` as `append_in_one_transaction`
    would, against the ledger as it stands, and store nothing (POST
    /attestations/validate).

    The same checks, against the same `Book`, each statement recorded in it
    so that later ones see it (a batch created and transferred in one
    body); but nothing is written and no lock is taken. The ledger is read
    in one consistent snapshot (PostgreSQL: a REPEATABLE READ, READ ONLY
    transaction, so writers are never waited for nor made to wait; SQLite:
    its one-writer transaction, a few milliseconds), and the transaction is
    always rolled back. The answer is the ledger's as of that snapshot: a
    statement appended meanwhile may still change what an append answers."""
    outermost = not transaction.get_connection().in_atomic_block
    with transaction.atomic():
        if outermost:  # in a caller's transaction, its snapshot is the one to read
            _read_only_snapshot()
        book = Book.load(items, lock=False)
        outcomes: list[Outcome] = [book.try_append(item, check) for item in items]
        transaction.set_rollback(True)
    return outcomes


def _read_only_snapshot() -> None:
    if transaction.get_connection().vendor != "postgresql":
        return
    with lookups.cursor() as db:
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def append_isolating_failures(append: Append, items: list[Pending]) -> list[Outcome]:
    """`append(items)`, so that a statement the database refuses (after
    passing every check) fails alone and costs the others little.

    Statements of organisations with such a failure in the last
    SUSPECT_SECONDS are appended apart from the rest, one organisation at a
    time, so that a writer of poisoned statements stops failing everyone's
    batches. A batch that fails as a whole is then appended again split by
    organisation, and a part of one organisation by halves, down to the
    statement that breaks the write: the honest statements beside it cost a
    few transactions (about two per halving), not one each."""
    suspects = _suspects_now()
    parts = _by_organization(items) if any(i.caller.organization in suspects for i in items) else [items]
    outcomes: dict[int, Outcome] = {}
    for part in parts:
        outcomes.update(zip(map(id, part), _append_or_split(append, part), strict=True))
    return [outcomes[id(item)] for item in items]


def _append_or_split(append: Append, items: list[Pending]) -> list[Outcome]:
    try:
        return append(items)
    except Exception as exc:
        _fresh_connection()
        if is_lock_timeout(exc):
            return [_busy()] * len(items)
        if len(items) == 1:
            log.exception("append of %s failed", items[0].envelope.entry_hash)
            _suspects[items[0].caller.organization] = time.monotonic() + SUSPECT_SECONDS
            return [AppendFailed(f"the append could not be written: {exc!r}")]
        log.warning("append batch of %d failed (%r); appending it in parts", len(items), exc)
    parts = _by_organization(items)
    if len(parts) == 1:
        parts = [items[: len(items) // 2], items[len(items) // 2 :]]
    return [outcome for part in parts for outcome in _append_or_split(append, part)]


# Organisations whose statement the database refused lately, until when (time.monotonic()).
SUSPECT_SECONDS = 60.0
_suspects: dict[str, float] = {}


def _suspects_now() -> set[str]:
    now = time.monotonic()
    for organization in [org for org, until in _suspects.items() if until <= now]:
        del _suspects[organization]
    return set(_suspects)


def _by_organization(items: list[Pending]) -> list[list[Pending]]:
    """`items` split by the posting organisation, each part in arrival order.
    Statements of different organisations in one batch came in different
    requests, none of which had been answered: none can rely on another's order."""
    parts: dict[str, list[Pending]] = {}
    for item in items:
        parts.setdefault(item.caller.organization, []).append(item)
    return list(parts.values())


def _is_unique_violation(exc: IntegrityError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(exc)


def is_lock_timeout(exc: BaseException) -> bool:
    """The append gave up waiting for the log's locks (nothing was written)."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == "55P03" or "database is locked" in str(exc)


def _busy() -> LedgerError:
    return LedgerError(
        "unavailable",
        f"The log stayed locked for {settings.CAIRN_APPEND_LOCK_TIMEOUT:g} s; nothing of this request was "
        "stored. Post it again.",
    )


def _fresh_connection() -> None:
    """After a failed transaction, start the next on a new connection (unless
    in a caller's transaction, which is the caller's to end)."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        connection.close()


def _derive_events(outcomes: list[Outcome]) -> None:
    """The new entries' EPCIS events, by a worker (provenance.tasks)."""
    created = [o.receipt.index for o in outcomes if isinstance(o, AppendResult) and o.created]
    tasks.schedule_epcis_events([index for index in created if index is not None])


def _log_appended(items: list[Pending], outcomes: list[Outcome]) -> None:
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


# --- the ledger as a batch sees it -------------------------------------------


@dataclass
class Book:
    """The ledger as a batch sees it: the locked tail and heads, plus what
    its earlier statements wrote. Statements are checked against it one by
    one and `record`ed; `write` then grows the tree and writes every row."""

    state: LogState
    callers: dict[str, Caller]  # by token
    keys: dict[str, SigningKey]
    organizations: set[str]  # of those a statement names as recipient or taxpayer
    batches: dict[str, Batch]  # the named ones, locked, and those the batch creates
    logged: dict[str, Logged]  # by entry hash
    taken: set[str]  # new batch ids already in the ledger
    claimed: set[str]  # VINs
    entries: list[NewEntry] = field(default_factory=list)
    signatures: list[SignatureRow] = field(default_factory=list)
    created: list[tuple[int, Batch]] = field(default_factory=list)  # (created by, batch)
    touched: dict[str, Batch] = field(default_factory=dict)  # existing batches with a new head
    links: list[LinkRow] = field(default_factory=list)
    claims: list[ClaimRow] = field(default_factory=list)

    @classmethod
    def load(cls, items: list[Pending], *, lock: bool = True) -> Book:
        """Lock the log's tail, then the heads the batch names, and read what
        its statements need of the ledger: one query per kind, all sent in
        one round trip, each run once the locks before it are held. Without
        `lock`, the same reads, locking nothing (a check that writes nothing)."""
        reads = lookups.run(_lock_timeout() if lock else [], *_ledger_reads(items, lock=lock))
        if lock:
            _arm_idle_timeout()
        state, callers, keys, organizations, batches, logged, taken, claimed = reads[1:]
        found_state = cast(list[LogState], state)
        return cls(
            state=found_state[0] if found_state else _empty_log(lock),
            callers=cast(dict[str, Caller], callers),
            keys={key.keyid: key for key in cast(list[SigningKey], keys)},
            organizations=cast(set[str], organizations),
            batches={batch.id: batch for batch in cast(list[Batch], batches)},
            logged=cast(dict[str, Logged], logged),
            taken=cast(set[str], taken),
            claimed=cast(set[str], claimed),
        )

    def try_append(self, item: Pending, check: Check) -> AppendResult | LedgerError:
        try:
            return check(item, self)
        except LedgerError as error:
            return error

    def record(self, item: Pending, signers: list[Signer], batches: dict[str, Batch]) -> Receipt:
        """The rows of a statement that passed its checks; it is logged at the
        next index, and later statements of the batch see it."""
        statement = item.statement
        entry = rows.new_entry(item, self.state.size + len(self.entries), timezone.now())
        receipt = entry.receipt
        self.entries.append(entry)
        self.logged[receipt.entry_hash] = Logged(receipt, entry.row.envelope)
        self.signatures += [
            SignatureRow(entry.row.index, signer.key.keyid, signer.key.organization_id, signer.is_issuer)
            for signer in signers
        ]
        self.links += rows.move_heads(receipt, statement, batches)
        self.touched.update({b.id: b for b in batches.values() if not b._state.adding})
        self._create_batches(entry, statement, batches)
        if statement.type == "claim":
            self.claims.append(rows.claim_row(receipt, statement))
            self.claimed.add(statement.vin)
        rows.mark_agreement_inputs(entry, statement, batches.values())
        return receipt

    def _create_batches(self, entry: NewEntry, statement: Statement, inputs: dict[str, Batch]) -> None:
        created = rows.new_batches(entry.receipt, statement, inputs)
        self.created += [(entry.row.index, batch) for batch in created]
        self.batches.update({batch.id: batch for batch in created})
        self.links += rows.creation_links(entry.receipt, statement, created)

    def write(self, ruleset: RuleSet) -> None:
        """Grow the tree over the new entries and write every row of the batch, in one round trip."""
        if not self.entries:
            return
        nodes = tlog.grow(self.state, [bytes.fromhex(entry.receipt.leaf_hash) for entry in self.entries])
        now = timezone.now()
        sql.write(
            inserts=[
                (rows.ENTRY, [entry.row for entry in self.entries]),
                (rows.SIGNATURE, self.signatures),
                (rows.BATCH, self._created_rows()),
                (rows.LINK, self.links),
                (rows.CLAIM, self.claims),
                (rows.NODE, [rows.NodeRow(*node) for node in nodes]),
                (rows.AGREEMENT_LINK, list(rows.agreement_links(self.entries, ruleset, now))),
            ],
            updates=[
                (rows.BATCH_HEAD, [rows.head_row(batch) for batch in self.touched.values()]),
                (rows.LOG_STATE, [rows.LogStateRow(self.state.id, self.state.size, self.state.frontier)]),
            ],
        )

    def _created_rows(self) -> list[BatchRow]:
        return [rows.batch_row(batch, created_by) for created_by, batch in self.created]


# --- the reads and locks ----------------------------------------------------


def _empty_log(lock: bool) -> LogState:
    """The tail of a log with no entry yet: created (and locked) to append to, unsaved to check against."""
    if not lock:
        return LogState(id=1)
    return LogState.objects.select_for_update().get_or_create(id=1)[0]


def _ledger_reads(items: list[Pending], *, lock: bool = True) -> Sequence[object]:
    """What a batch reads of the ledger, in lock order: the tail, callers,
    keys, recipients, heads (in id order: two writers locking overlapping
    sets cannot deadlock), logged statements, taken batch ids, VINs."""
    statements = [item.statement for item in items]
    return (
        lookups.models(LogState, "id", [1], lock=lock),
        callers_by_token({item.caller.token for item in items if item.caller.token}),
        lookups.models(SigningKey, "keyid", {sig.keyid for item in items for sig in item.envelope.signatures}),
        lookups.values_of(
            Organization, "slug", "slug", {name for s in statements for name in (s.to, s.taxpayer) if name}
        ),
        lookups.models(Batch, "id", {b for s in statements for b in s.named_batches}, lock=lock, order_by="id"),
        logged_by_hash({item.envelope.entry_hash for item in items}),
        lookups.values_of(Batch, "id", "id", {output.batch for s in statements for output in s.outputs}),
        lookups.values_of(Claim, "vin", "vin", {s.vin for s in statements if s.vin}),
    )


def _lock_timeout() -> lookups.Query[None] | list[object]:
    """PostgreSQL: wait at most CAIRN_APPEND_LOCK_TIMEOUT for the log's locks
    (then 503 `unavailable`, nothing stored), so that a writer stuck holding
    them (stopped, hung) makes appends fail within a stated time instead of
    hanging. Sent with the locks, in their round trip."""
    if transaction.get_connection().vendor != "postgresql":
        return []
    timeout = f"{int(settings.CAIRN_APPEND_LOCK_TIMEOUT * 1000)}ms"
    return lookups.Query("SELECT set_config('lock_timeout', %s, true)", [timeout], lambda found: None)


def _arm_idle_timeout() -> None:
    """PostgreSQL: a writer that sits idle CAIRN_APPEND_IDLE_TIMEOUT inside its
    append, holding the log's locks (stopped by SIGSTOP, a hung host), loses
    its session, so the locks are released and the other appends go on. A
    round trip of its own after the locks are taken: PostgreSQL does not arm
    idle_in_transaction_session_timeout after a pipeline."""
    if transaction.get_connection().vendor != "postgresql" or not settings.CAIRN_APPEND_IDLE_TIMEOUT:
        return
    with lookups.cursor() as db:
        db.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', %s, true)",
            [f"{int(settings.CAIRN_APPEND_IDLE_TIMEOUT * 1000)}ms"],
        )


def logged_by_hash(hashes: set[str]) -> lookups.Query[dict[str, Logged]] | dict[str, Logged]:
    """The query for entries already logged with these entry hashes: each
    one's receipt and stored envelope (`Logged`)."""
    if not hashes:
        return {}
    entry = lookups.shape(Entry)
    where, params = lookups.one_of(entry.column("entry_hash"), sorted(hashes))
    sql = (
        f"SELECT {entry.column('index')}, {entry.column('entry_hash')}, {entry.column('integrated_time')}, "
        f"{entry.column('leaf_hash')}, {entry.column('envelope')} FROM {entry.table} WHERE {where}"
    )

    def build(found: list[tuple[object, ...]]) -> dict[str, Logged]:
        logged = {}
        for index, entry_hash, integrated_time, leaf_hash, envelope in cast(
            list[tuple[int, str, int, str, str]], found
        ):
            logged[entry_hash] = Logged(Receipt(entry_hash, integrated_time, leaf_hash, index), envelope)
        return logged

    return lookups.Query(sql, params, build)


def callers_by_token(tokens: set[str]) -> lookups.Query[dict[str, Caller]] | dict[str, Caller]:
    """The query for each token's caller as the ledger knows them now:
    tokens of inactive users or of users in no organisation are left out."""
    if not tokens:
        return {}
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    token, user, member, org = (lookups.shape(m) for m in (Token, get_user_model(), Member, Organization))
    where, params = lookups.one_of(f"t.{token.column('key')}", sorted(tokens))
    sql = (
        f"SELECT t.{token.column('key')}, o.{org.column('slug')}, o.{org.column('roles')}, u.{user.column('id')} "
        f"FROM {token.table} t JOIN {user.table} u ON u.{user.column('id')} = t.{token.column('user')} "
        f"JOIN {member.table} m ON m.{member.column('user')} = u.{user.column('id')} "
        f"JOIN {org.table} o ON o.{org.column('slug')} = m.{member.column('organization')} "
        f"WHERE u.{user.column('is_active')} AND {where}"
    )

    def build(found: list[tuple[object, ...]]) -> dict[str, Caller]:
        callers = {}
        for key, slug, roles, uid in cast(list[tuple[str, str, object, int]], found):
            callers[key] = Caller(slug, tuple(cast(list[str], org.convert("roles", roles))), uid, key)
        return callers

    return lookups.Query(sql, params, build)
