"""The periodic sweep: every stored row of the log checked within minutes, at any size.

The full check (audit.integrity) verifies every signature and replays the
whole log: about 5,000 entries a second, hours at a million entries. The
sweep finds any change much faster by hashing what is stored and comparing
it with what was found good before, checking signatures only where
something differs:

1. **The tree against the latest signed checkpoint.** Every entry's leaf
   hash is recomputed from its stored bytes (SHA-256(0x00 ‖ leaf input)) and
   compared with the stored one; the leaves of each sealed range fold into
   the range's perfect subtree, the subtrees and the tail into the root at
   the checkpoint's size, which must be the signed root. The checkpoint's
   own signature is one Ed25519 check. This needs no secret: a changed byte
   of any envelope logged under the checkpoint changes the root.
2. **Every derived row against its seal.** The log is cut into ranges of
   `WIDTH` entries (aligned, so that each is one perfect subtree). When a
   full check of a range passes, a `RangeSeal` keeps an HMAC of every
   stored column of its entries and of the rows derived from them: the
   signature records, batch links, agreement links, the Batch rows it
   created (their fixed columns), its Claim rows, its Merkle nodes and the
   checkpoints within it. A range whose rows no longer give its seal, or
   whose leaves or subtree differ, is checked in full again
   (`integrity.check_range`): that check names the changed row. On
   PostgreSQL one scan of a range's entries gives both its leaves (each
   hashed once, returned as one value) and its entries' digest.
3. **The moving columns of every batch** (consumed, custodian, head).
   Each seal also keeps an HMAC of the moving columns of the batches its
   range created (`RangeSeal.moving`), apart from the rest since later
   entries move them. A range whose batches still give it needs nothing
   more; the others (moved by a later entry, or changed) are compared with
   their links, which the seals cover, and sealed again when they agree,
   with no full check. Comparing every batch each time cost more than the
   rest of the sweep at 1,000,000 entries.
4. **The tail** (entries after the last whole range, up to the log's size)
   and the checkpoints since, in full, each time.
5. **A rolling full check.** Each sweep also checks `ROLLING` entries in
   full, signatures included, starting with the ranges never sealed, then
   those whose full check is oldest; a passing range is (re)sealed. So
   every signature is re-verified on a slower cycle, and a log upgraded
   from before seals is sealed progressively.

The HMAC key is derived from `CAIRN_SEAL_KEY` (default: SECRET_KEY): whoever
can write the database but not read the settings cannot make a changed row
fit its seal. Whoever holds both is still caught by step 1 for entries and
by the rolling full check for the rest. Rotating the key makes every seal
mismatch once: each range is then checked in full and sealed again.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection, models
from django.utils import timezone

from audit import integrity
from audit.models import RangeSeal
from cairn_core import merkle
from cairn_core.entries import stored_leaf_input
from cairn_core.problems import Code, Problem
from provenance import checkpoints, tlog
from provenance.models import (
    Batch,
    BatchLink,
    Checkpoint,
    Claim,
    Entry,
    EntryAgreementLink,
    EntrySignature,
    MerkleNode,
)

# Entries per sealed range: a power of two, so that each range is one
# stored perfect subtree (level LEVEL) of the tree.
LEVEL = 12
WIDTH = 1 << LEVEL

# The rows derived from entries [start, end): (model, the column that
# places a row in a range, the columns sealed, the order).
DERIVED: tuple[tuple[type[models.Model], str, tuple[str, ...]], ...] = (
    (EntrySignature, "entry_id", ("entry_id", "key_id", "organization_id", "is_issuer")),
    (
        BatchLink,
        "entry_id",
        ("entry_id", "batch_id", "role", "prev", "quantity", "custodian_before_id", "custodian_after_id"),
    ),
    # Relinking after a rule change rewrites linked_at and rules_version; the rest is derived.
    (EntryAgreementLink, "entry_id", ("entry_id", "agreement_id", "mineral", "country")),
    (Batch, "created_by_id", ("created_by_id", "id", *integrity.BATCH_FIXED)),
    (Claim, "entry_id", ("entry_id", "vin", *integrity.CLAIM_COLUMNS[1:])),
)
# The columns of a Batch row that later entries move (sealed apart: they change as the log grows).
MOVING = ("created_by_id", "id", "consumed", "custodian_id", "head")
ENTRY_COLUMNS = (
    "index",
    "entry_hash",
    "integrated_time",
    "leaf_hash",
    "type",
    "issuer_id",
    "issued_at",
    "occurred_at",
    "statement",
)


def seal_key() -> bytes:
    secret = getattr(settings, "CAIRN_SEAL_KEY", "") or settings.SECRET_KEY
    return hashlib.sha256(b"cairn range seal\n" + secret.encode()).digest()


def rolling_entries() -> int:
    return int(getattr(settings, "CAIRN_SWEEP_ROLLING_ENTRIES", 4 * WIDTH))


@dataclass
class RangeState:
    """Entries [start, end) as stored now: their HMAC, subtree, and the leaves that differ."""

    start: int
    end: int
    digest: str
    root: bytes | None  # None: a row is missing
    bad_leaves: list[int] = field(default_factory=list)
    moving: str = ""  # HMAC of the moving columns of the batches the range created

    def moved(self, seal: RangeSeal | None) -> bool:
        """Whether those moving columns must be compared with their links (not as last found)."""
        return seal is None or seal.moving != self.moving

    def differs(self, seal: RangeSeal | None) -> bool:
        return self.root is None or bool(self.bad_leaves) or (seal is not None and seal.digest != self.digest)


def _column(model: type[models.Model], name: str) -> str:
    found = model._meta.get_field(name)
    assert isinstance(found, models.Field) and found.column  # a concrete column, not a relation's reverse
    return connection.ops.quote_name(found.column)


def _select(model: type[models.Model], columns: Sequence[str], where: str, params: list[int]) -> tuple[str, list[int]]:
    """Every column as text (the same text each time on one database), ordered by all of them."""
    selected = ", ".join(f"CAST({_column(model, name)} AS TEXT)" for name in columns)
    ordering = ", ".join(_column(model, name) for name in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    return f"SELECT {selected} FROM {table} WHERE {where} ORDER BY {ordering}", params  # noqa: S608


def _between(model: type[models.Model], name: str) -> str:
    return f"{_column(model, name)} >= %s AND {_column(model, name)} < %s"


def _feed(mac: hmac.HMAC, label: str, rows: Iterable[Sequence[object]]) -> None:
    mac.update(f"\x1d{label}\x1d".encode())
    for row in rows:
        mac.update("\x1f".join(map(str, row)).encode() + b"\x1e")


def _leaves(mac: hmac.HMAC, start: int, end: int) -> tuple[list[bytes], list[int], bool]:
    """The recomputed leaves of entries [start, end), the indices whose stored
    leaf_hash differs, and whether every row is there; their columns into `mac`."""
    quote = connection.ops.quote_name
    table, index = quote(Entry._meta.db_table), _column(Entry, "index")
    selected = ", ".join(f"CAST({_column(Entry, name)} AS TEXT)" for name in ENTRY_COLUMNS[1:])
    sql = (
        f"SELECT {index}, {_column(Entry, 'envelope')}, {selected} FROM {table}"  # noqa: S608
        f" WHERE {index} >= %s AND {index} < %s ORDER BY {index}"
    )
    leaves: list[bytes] = []
    bad: list[int] = []
    mac.update(b"\x1dentries\x1d")
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, end])
        for row in cursor:
            position, envelope, integrated_time, stored_leaf = row[0], row[1], row[3], row[4]
            if position != start + len(leaves):
                return leaves, bad, False
            leaf = merkle.leaf_hash(stored_leaf_input(envelope, integrated_time))
            if leaf.hex() != stored_leaf:
                bad.append(position)
            leaves.append(leaf)
            mac.update("\x1f".join(map(str, (position, *row[2:]))).encode() + b"\x1e")
    return leaves, bad, len(leaves) == end - start


def _subtree(leaves: list[bytes]) -> bytes:
    """The root of a perfect subtree over `leaves` (a power of two of them)."""
    level = leaves
    while len(level) > 1:
        level = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def range_state(start: int, end: int) -> RangeState:
    """Hash entries [start, end) (a whole range) and every row derived from them."""
    mac = hmac.new(seal_key(), f"{start}\n{end}\n".encode(), hashlib.sha256)
    if connection.vendor == "postgresql":
        leaves, bad, complete = _leaves_in_database(mac, start, end)
    else:
        leaves, bad, complete = _leaves(mac, start, end)
    queries = [_select(model, columns, _between(model, where), [start, end]) for model, where, columns in DERIVED]
    size = _column(Checkpoint, "tree_size")
    queries.append(
        _select(Checkpoint, ("tree_size", "root_hash", "note"), f"{size} > %s AND {size} <= %s", [start, end])
    )
    queries.append(_nodes_query(start, end))
    moving = hmac.new(seal_key(), f"moving {start}\n{end}\n".encode(), hashlib.sha256)
    queries.append(_select(Batch, MOVING, _between(Batch, "created_by_id"), [start, end]))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The rows are hashed where they are: one SHA-256 per table, in C.
            # One row of scalar subqueries: their order is fixed (a UNION's rows are not).
            cursor.execute("SELECT " + ", ".join(_digest_query(sql) for sql, _ in queries), _flat(queries))
            (*digests, batches) = cursor.fetchone()
            _feed(mac, "digests", [digests])
            _feed(moving, "digests", [[batches]])
        else:
            for number, (sql, params) in enumerate(queries):
                cursor.execute(sql, params)
                _feed(moving if number == len(queries) - 1 else mac, sql, cursor.fetchall())
    root = _subtree(leaves) if complete else None
    return RangeState(start, end, mac.hexdigest(), root, bad, moving.hexdigest())


def _flat(queries: list[tuple[str, list[int]]]) -> list[int]:
    return [param for _sql, params in queries for param in params]


def _digest_query(sql: str) -> str:
    """PostgreSQL: one row, the SHA-256 of the query's rows joined as _feed joins them."""
    selected, rest = sql.removeprefix("SELECT ").split(" FROM ", 1)
    columns = [f"COALESCE({column}, 'None')" for column in selected.split(", ")]
    table_and_where, ordering = rest.rsplit(" ORDER BY ", 1)
    joined = " || chr(31) || ".join(columns)
    return (
        f"(SELECT encode(sha256(convert_to(COALESCE(string_agg({joined}, chr(30) ORDER BY {ordering}), ''),"
        f" 'UTF8')), 'hex') FROM {table_and_where})"
    )


def _leaves_in_database(mac: hmac.HMAC, start: int, end: int) -> tuple[list[bytes], list[int], bool]:
    """PostgreSQL computes each leaf hash (SHA-256(0x00 || leaf input)) once and the
    entries' digest, in one scan of the range; Python gets one row: the leaves
    joined (32 bytes each), the indices whose stored leaf_hash differs, and the count."""
    quote = connection.ops.quote_name
    table, index = quote(Entry._meta.db_table), _column(Entry, "index")
    leaf = (
        "sha256('\\x00'::bytea || convert_to('{\"envelope\":' || "
        f"{_column(Entry, 'envelope')} || ',\"integrated_time\":' || {_column(Entry, 'integrated_time')} || '}}',"
        " 'UTF8'))"
    )
    columns = " || chr(31) || ".join(
        f"COALESCE(CAST({_column(Entry, name)} AS TEXT), 'None')" for name in ENTRY_COLUMNS
    )
    # OFFSET 0 keeps the subquery whole, so that each leaf is hashed once, not once per use.
    sql = (
        "SELECT COUNT(*), MIN(n), MAX(n), string_agg(leaf, ''::bytea ORDER BY n),"
        " array_agg(n ORDER BY n) FILTER (WHERE encode(leaf, 'hex') <> stored),"
        " encode(sha256(convert_to(COALESCE(string_agg(line, chr(30) ORDER BY n), ''), 'UTF8')), 'hex')"
        f" FROM (SELECT {index} AS n, {leaf} AS leaf, {_column(Entry, 'leaf_hash')} AS stored,"  # noqa: S608
        f" {columns} AS line FROM {table} WHERE {index} >= %s AND {index} < %s OFFSET 0) AS rows"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, end])
        count, first, last, joined, bad, digest = cursor.fetchone()
    mac.update(b"\x1dentries\x1d" + digest.encode())
    joined = bytes(joined or b"")
    leaves = [joined[offset : offset + 32] for offset in range(0, len(joined), 32)]
    complete = count == end - start and (count == 0 or (first == start and last == end - 1))
    return leaves, list(bad or []), complete


def _nodes_query(start: int, end: int) -> tuple[str, list[int]]:
    """The stored Merkle nodes inside [start, end) (a whole range), levels 1..LEVEL."""
    ident = _column(MerkleNode, "id")
    clauses, params = [], []
    for level in range(1, LEVEL + 1):
        clauses.append(f"({ident} >= %s AND {ident} <= %s)")
        params += [MerkleNode.node_id(level, start >> level), MerkleNode.node_id(level, (end >> level) - 1)]
    table = connection.ops.quote_name(MerkleNode._meta.db_table)
    selected = f"CAST({ident} AS TEXT), CAST({_column(MerkleNode, 'hash')} AS TEXT)"
    return f"SELECT {selected} FROM {table} WHERE {' OR '.join(clauses)} ORDER BY {ident}", params  # noqa: S608


# --- one sweep -------------------------------------------------------------------


@dataclass
class Sweep:
    """What one sweep found and did."""

    size: int = 0  # the latest checkpoint's size, up to which the tree was rebuilt
    problems: list[Problem] = field(default_factory=list)
    rechecked: list[int] = field(default_factory=list)  # ranges checked in full because something differed
    rolled: list[int] = field(default_factory=list)  # ranges checked in full by the rolling part
    sealed: list[int] = field(default_factory=list)


def sweep() -> Sweep:
    """One sweep of the whole log (see the module docstring); reads only, but for the seals."""
    done = Sweep()
    latest = Checkpoint.objects.order_by("-tree_size").first()
    done.size = latest.tree_size if latest else 0
    whole = done.size // WIDTH
    seals = {seal.start: seal for seal in RangeSeal.objects.filter(start__lt=whole * WIDTH)}
    with _serial():
        states = [range_state(number * WIDTH, (number + 1) * WIDTH) for number in range(whole)]
    suspects = [state for state in states if state.differs(seals.get(state.start))]
    for state in suspects:
        _full_check(done, state.start, state.end, done.rechecked)
    if latest is not None:
        done.problems += _against_checkpoint(latest, states, done.problems)
    tail = whole * WIDTH
    done.problems += integrity.check_range(tail, tlog.current_size())
    done.problems += integrity.check_tree_against_checkpoints(since_size=tail)
    flagged = {state.start for state in suspects}
    done.problems += _moving_columns([state for state in states if state.start not in flagged], seals)
    never = [state.start for state in states if state.start not in seals and state.start not in flagged]
    oldest = sorted((seal for seal in seals.values() if seal.start not in flagged), key=lambda seal: seal.checked_at)
    for start in [*never, *(seal.start for seal in oldest)][: max(rolling_entries() // WIDTH, 0)]:
        _full_check(done, start, start + WIDTH, done.rolled)
    done.problems = integrity.in_order(done.problems)
    return done


# Above this many ranges whose batches moved, one query over every batch costs less than one per range.
ONE_QUERY_FROM = 32


def _moving_columns(states: list[RangeState], seals: dict[int, RangeSeal]) -> list[Problem]:
    """The batches' moving columns, compared with their links only where they changed.

    A range's batches whose consumed, custodian and head still give its seal's
    `moving` HMAC are as they were when last found to agree with their links
    (their later links, the tail's and other ranges', are checked where they
    are); the others are compared now and, when they agree, sealed so. Batches
    the tail created are compared by the tail's full check.
    """
    moved = [state for state in states if state.moved(seals.get(state.start))]
    if not moved:
        return []
    if len(moved) >= ONE_QUERY_FROM:
        problems = moved_batches()
        agreeing = [] if problems else moved
    else:
        problems, agreeing = [], []
        for state in moved:
            found = moved_batches(state.start, state.end)
            problems += found
            if not found:
                agreeing.append(state)
    for state in agreeing:
        if state.start in seals:
            RangeSeal.objects.filter(start=state.start).update(moving=state.moving)
    return problems


@contextmanager
def _serial() -> Iterator[None]:
    """PostgreSQL: no parallel workers for the sweep's queries (a background task
    takes one core at most, and its cost is then its backend's own CPU)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET max_parallel_workers_per_gather")


def _full_check(done: Sweep, start: int, end: int, into: list[int]) -> None:
    """Entries [start, end) checked in full, their batches' moving columns with
    them; sealed as they stand when nothing is wrong."""
    into.append(start)
    found = integrity.check_range(start, end) + moved_batches(start, end)
    done.problems += found
    if not found:
        state = range_state(start, end)
        RangeSeal.objects.update_or_create(
            start=start,
            defaults={"end": end, "digest": state.digest, "moving": state.moving, "checked_at": timezone.now()},
        )
        done.sealed.append(start)


def _against_checkpoint(latest: Checkpoint, states: list[RangeState], found: list[Problem]) -> list[Problem]:
    """The checkpoint's signature, and its root rebuilt from the stored entries' recomputed leaves.

    A root that differs is reported against the first entry whose stored leaf
    differs from its bytes, else the first whose envelope fails its own
    checks (`found`: what the full checks of the ranges that differ found)."""
    index = max(latest.tree_size - 1, 0)
    problems = []
    fault = checkpoints.verify_note(latest)
    if fault:
        problems.append(Problem(index, Code.CHECKPOINT_SIGNATURE, fault))
    frontier: list[bytes] = []
    for number, state in enumerate(states):
        if state.root is None:
            return problems  # a missing row: the full check of its range names it
        frontier, _ = merkle.append_to_frontier(frontier, number, state.root)
    tail = len(states) * WIDTH
    leaves, bad, complete = _leaves(hmac.new(b"", digestmod=hashlib.sha256), tail, latest.tree_size)
    if not complete:
        return problems  # the tail's full check names the missing row
    for offset, leaf in enumerate(leaves):
        frontier, _ = merkle.append_to_frontier(frontier, tail + offset, leaf)
    if merkle.root_from_frontier(frontier).hex() != latest.root_hash:
        altered = [problem.index for problem in found if problem.code in ALTERED]
        first = min([*bad, *(leaf for state in states for leaf in state.bad_leaves)] or altered, default=index)
        message = f"the tree rebuilt from the stored entries does not have checkpoint {latest.tree_size}'s signed root"
        problems.append(Problem(first, Code.INCLUSION, message))
    return problems


# What an entry whose own bytes changed fails (cairn_core.entries.check_stored, check_signatures).
ALTERED = {Code.LEAF_HASH, Code.ENTRY_HASH, Code.MALFORMED_ENVELOPE, Code.BAD_SIGNATURE}


# Batch rows whose moving columns disagree with their latest link (in SQL,
# with a tolerance for SQLite's floating-point sums; Python decides exactly).
# {created}: every batch, or those created by entries [%s, %s), each looked up
# by its own links (correlated subqueries: PostgreSQL and SQLite alike).
MOVED_SQL = """
SELECT b.{id}, CAST(b.{consumed} AS TEXT), b.{custodian}, b.{head}, s.used, l.{after}, e.{entry_hash}, s.last
FROM {batch} b
JOIN (SELECT {batch_id} AS batch_id, MAX({entry_id}) AS last,
             SUM(CASE WHEN {role} IN ('consumed', 'claimed', 'sold') THEN {quantity} ELSE 0 END) AS used
      FROM {link} GROUP BY {batch_id}) s ON s.batch_id = b.{id}
JOIN {link} l ON l.{batch_id} = s.batch_id AND l.{entry_id} = s.last
JOIN {entry} e ON e.{index} = s.last
WHERE ABS(b.{consumed} - s.used) > 0.0000000005 OR b.{custodian} <> l.{after} OR b.{head} <> e.{entry_hash}
"""
MOVED_IN_RANGE_SQL = """
SELECT s.id, CAST(s.consumed AS TEXT), s.custodian, s.head, s.used, l.{after}, e.{entry_hash}, s.last
FROM (SELECT b.{id} AS id, b.{consumed} AS consumed, b.{custodian} AS custodian, b.{head} AS head,
             (SELECT MAX(x.{entry_id}) FROM {link} x WHERE x.{batch_id} = b.{id}) AS last,
             (SELECT SUM(CASE WHEN x.{role} IN ('consumed', 'claimed', 'sold') THEN x.{quantity} ELSE 0 END)
              FROM {link} x WHERE x.{batch_id} = b.{id}) AS used
      FROM {batch} b WHERE b.{created_by} >= %s AND b.{created_by} < %s) s
JOIN {link} l ON l.{batch_id} = s.id AND l.{entry_id} = s.last
JOIN {entry} e ON e.{index} = s.last
WHERE ABS(s.consumed - s.used) > 0.0000000005 OR s.custodian <> l.{after} OR s.head <> e.{entry_hash}
"""


def moved_batches(start: int | None = None, end: int | None = None) -> list[Problem]:
    """Every batch's consumed, custodian and head against its links, in one query
    (or those of the batches created by entries [start, end))."""
    quote = connection.ops.quote_name
    names = {
        "id": _column(Batch, "id"),
        "consumed": _column(Batch, "consumed"),
        "custodian": _column(Batch, "custodian_id"),
        "head": _column(Batch, "head"),
        "created_by": _column(Batch, "created_by_id"),
        "batch": quote(Batch._meta.db_table),
        "link": quote(BatchLink._meta.db_table),
        "entry": quote(Entry._meta.db_table),
        "batch_id": _column(BatchLink, "batch_id"),
        "entry_id": _column(BatchLink, "entry_id"),
        "role": _column(BatchLink, "role"),
        "quantity": _column(BatchLink, "quantity"),
        "after": _column(BatchLink, "custodian_after_id"),
        "index": _column(Entry, "index"),
        "entry_hash": _column(Entry, "entry_hash"),
    }
    problems = []
    with connection.cursor() as cursor:
        if start is None:
            cursor.execute(MOVED_SQL.format(**names))
        else:
            cursor.execute(MOVED_IN_RANGE_SQL.format(**names), [start, end])
        for batch_id, consumed, custodian, head, used, after, entry_hash, last in cursor.fetchall():
            moving = {
                "consumed": (_exact(consumed), _exact(used)),
                "custodian": (custodian, after),
                "head": (head, entry_hash),
            }
            for column, (have, want) in moving.items():
                if have != want:
                    message = integrity.batch_state_message(batch_id, column, have, want)
                    problems.append(Problem(last, Code.BATCH_STATE, message))
    return problems


def _exact(value: object) -> Decimal:
    """A quantity as stored (9 decimal places), from PostgreSQL's numeric or SQLite's float."""
    return Decimal(str(value)).quantize(Decimal("1e-9")).normalize()
