"""Integrity checks: does the database still say what was signed and logged?

`check_range(start, end)` re-derives everything about entries [start, end)
from the stored envelopes alone and compares it with what is stored:

* the leaf hash, SHA-256(0x00 || leaf input), over the stored bytes;
* entry_hash = SHA-256(PAE(payloadType, payload)) and the parsed payload
  against the stored statement, type and issuer;
* every signature against its key, the key valid at integrated_time, one of
  them the issuer's, and the signature records;
* the hash chain (each prev is the entry_hash of the batch's previous
  entry), custody and mass balance, replayed in index order from the signed
  statements, and the stored batch links against that replay;
* the Merkle tree rebuilt from the recomputed leaves: every stored perfect
  subtree, and the root at each checkpoint size in the range.

`check_tree_against_checkpoints()` verifies each checkpoint's signature and
that the stored tree gives its signed root (O(log n) stored hashes each),
that the log's frontier agrees, and that no entry row is missing.

Both return Problems; each becomes one `index N: <reason>` line (contract
§7). The per-entry checks (hashes, statement, signatures, chain links) are
cairn_core.entries', shared with claim verification and the bundle
verifier, so a problem has the same code (cairn_core.problems.Code)
wherever it is found; this module reads the rows in chunks for them and
replays custody, balances and the tree. Reads only: recording incidents is
audit.incidents' job.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Q

from agreements.snapshot import load_ruleset
from cairn_core import amounts, ledger_entries, merkle
from cairn_core.entries import (
    Decoded,
    Key,
    StoredEntry,
    check_ledger_signature,
    check_prev,
    check_signature_records,
    check_signatures,
    check_stored,
    created_again,
    not_created,
)
from cairn_core.problems import Code, Problem
from provenance import checkpoints, ledger_key, tlog
from provenance.keys import verifying_keys
from provenance.linking import planned_agreements
from provenance.models import (
    Batch,
    BatchLink,
    Checkpoint,
    Claim,
    Entry,
    EntryAgreementLink,
    EntrySignature,
    LogState,
    MerkleNode,
)

# Entries read per round trip: large enough to amortise the queries, small
# enough that a batch's rows and their IN lists stay modest.
CHUNK = 2000
CONSUMING = ("consumed", "claimed", "sold")
LINK_ROLE = {
    "transfer": "transferred",
    "certify": "certified",
    "claim": "claimed",
    "supplier_certification": "supplier_certified",
    "sale": "sold",
}
# Types whose issuer need not hold the batch (its custodian co-signed: provenance.append.checks).
CO_SIGNED_TYPES = ("certify", "supplier_certification")
# Checkpoints whose stored-tree roots are fetched in one query.
CHECKPOINT_BATCH = 200


# What re-checking an entry reads of it (the ledger check and claim verification).
ENTRY_FIELDS = ("index", "entry_hash", "envelope", "integrated_time", "leaf_hash", "type", "issuer_id", "statement")


# A signed statement (a JSON object), as decoded.
Statement = Mapping[str, Any]
# A stored batch link of an entry: (role, prev, quantity, custodian before, after).
LinkRow = tuple[str, str, Decimal | None, str | None, str | None]
# A signature record of an entry: (organisation, is the issuer's).
SignatureRecord = tuple[str, bool]
AgreementLinkKey = tuple[str, str, str]  # agreement, mineral, country
# A Claim row's columns (CLAIM_COLUMNS): entry, batch, manufacturer, acquired, placed in service, country.
ClaimRow = tuple[int, str, str, dt.date, dt.date, str]
# A Batch row's fixed columns (BATCH_FIXED) by name.
BatchRow = dict[str, Any]


class BatchState:
    """A batch as replayed from the signed statements up to some index.

    `row` is the Batch row its creating entry implies (its fixed columns),
    when that entry lies in the range checked; `carries` the minerals whose
    lineages run through it."""

    __slots__ = ("quantity", "consumed", "custodian", "head", "last_index", "carries", "row")

    def __init__(
        self,
        quantity: Decimal,
        consumed: Decimal,
        custodian: str,
        head: str,
        last_index: int,
        carries: Iterable[str] = (),
        row: BatchRow | None = None,
    ) -> None:
        self.quantity: Decimal = quantity
        self.consumed: Decimal = consumed
        self.custodian: str = custodian
        self.head: str = head
        self.last_index: int = last_index
        self.carries: list[str] = sorted(carries)
        self.row: BatchRow | None = row


# Batch columns fixed when the batch is created; the others (consumed,
# custodian, head) move with every entry that touches it.
BATCH_FIXED = (
    "owner_id",
    "material",
    "unit",
    "quantity",
    "created_by_id",
    "site_country",
    "minerals",
    "carries",
    "value_added_usd",
    "component",
)
BATCH_MOVING = ("consumed", "custodian_id", "head")
CLAIM_COLUMNS = ("entry_id", "batch_id", "manufacturer_id", "acquired", "placed_in_service", "final_assembly_country")


def in_order(problems: Iterable[Problem]) -> list[Problem]:
    """Without repeats, by index, each index's problems in the order found."""
    return sorted(dict.fromkeys(problems), key=lambda problem: problem.index)


def problems_by_index(problems: Iterable[Problem]) -> dict[int, list[Problem]]:
    grouped: dict[int, list[Problem]] = defaultdict(list)
    for problem in in_order(problems):
        grouped[problem.index].append(problem)
    return dict(grouped)


def report_lines(problems: Iterable[Problem]) -> list[str]:
    """One `index N: <reason>[; <reason>…]` line per failing entry (contract §7)."""
    return [
        f"index {index}: {'; '.join(problem.message for problem in group)}"
        for index, group in problems_by_index(problems).items()
    ]


# --- per-entry checks and the tree rebuild ------------------------------------


def check_range(start: int, end: int, *, progress: Callable[[int], None] | None = None) -> list[Problem]:
    """Check entries [start, end) (end is clamped to the log's size)."""
    size = tlog.current_size()
    end = min(end, size)
    checker = RangeChecker(start, end, size)
    for chunk_start in range(start, end, CHUNK):
        chunk_end = min(chunk_start + CHUNK, end)
        checker.check_chunk(chunk_start, chunk_end)
        if progress:
            progress(chunk_end - chunk_start)
    checker.finish()
    return in_order(checker.problems)


class RangeChecker:
    """State carried across the chunks of one range: keys, batches, tree."""

    def __init__(self, start: int, end: int, size: int) -> None:
        self.start, self.end, self.size = start, end, size
        self.problems: list[Problem] = []
        # Entries whose envelope no longer hashes to the stored leaf: the
        # tree problems above them are consequences, reported against them.
        self.bad_leaves: list[int] = []
        self.keys: dict[str, Key] = {}
        self.batches: dict[str, BatchState] = {}
        self.claims: dict[str, ClaimRow] = {}  # vin -> the Claim row its entry implies
        self.checkpoints = dict(
            Checkpoint.objects.filter(tree_size__gt=start, tree_size__lte=end).values_list("tree_size", "root_hash")
        )
        self.tree = TreeRebuild(self, start)
        # The entries' agreement links are derived from the signed statements
        # and the rule data the log records (audit.ledger_views checks the latter).
        self.ruleset = load_ruleset()
        self.agreement_links: dict[int, set[AgreementLinkKey]] = {}

    def problem(self, index: int, code: str, message: str) -> None:
        self.problems.append(Problem(index, code, message))

    def check_chunk(self, chunk_start: int, chunk_end: int) -> None:
        rows = list(
            Entry.objects.filter(index__gte=chunk_start, index__lt=chunk_end)
            .order_by("index")
            .values_list(*ENTRY_FIELDS, "issued_at", "occurred_at")
        )
        signatures = self._load_signatures(chunk_start, chunk_end)
        links = self._load_links(chunk_start, chunk_end)
        self.agreement_links = self._load_agreement_links(chunk_start, chunk_end)
        stored_nodes = self.tree.load_nodes(chunk_start, chunk_end)
        expected = chunk_start
        for row in rows:
            index = row[0]
            self.problems += [missing(absent) for absent in range(expected, min(index, chunk_end))]
            if index != expected:
                self.tree.reseed(index)
            width = len(ENTRY_FIELDS)
            entry = StoredEntry._make(row[:width])
            leaf = self.check_entry(entry, signatures.get(index, {}), links.get(index, {}), times=row[width:])
            self.tree.add(index, leaf, stored_nodes, self.checkpoints)
            expected = index + 1
        self.problems += [missing(absent) for absent in range(expected, chunk_end)]
        if expected != chunk_end:
            self.tree.reseed(chunk_end)

    def finish(self) -> None:
        if self.end == self.size and self.end > self.start:
            self.tree.compare_frontier(self.end)
        self._compare_batches()
        self._compare_claims()

    # --- the mutable state against the replay ---------------------------------

    def _compare_batches(self) -> None:
        """Batch rows must be what the entries imply: the fixed columns of the
        batches created in the range, and the moving ones (consumed, custodian,
        head) of the batches whose latest entry lies in the range. A Batch row
        no entry created is reported too (by the check that covers the whole log)."""
        ids = sorted(self.batches)
        moved_on = set()
        stored: dict[str, dict[str, Any]] = {}
        for part in _parts(ids):
            moved_on |= set(
                BatchLink.objects.filter(batch_id__in=part, entry_id__gte=self.end).values_list("batch_id", flat=True)
            )
            for row in Batch.objects.filter(id__in=part).values("id", *BATCH_FIXED, *BATCH_MOVING):
                stored[row["id"]] = row
        for batch_id in ids:
            state = self.batches[batch_id]
            row = stored.get(batch_id)
            if row is None:
                self.problem(state.last_index, Code.BATCH_STATE, f"batch {batch_id}: no Batch row")
                continue
            if state.row is not None:
                for column in BATCH_FIXED:
                    self._compare_column(state.row["created_by_id"], batch_id, column, row[column], state.row[column])
            if batch_id not in moved_on:
                moving = {"consumed": state.consumed, "custodian_id": state.custodian, "head": state.head}
                for column in BATCH_MOVING:
                    self._compare_column(state.last_index, batch_id, column, row[column], moving[column])
        if self.start == 0 and self.end == self.size:
            known = set(ids)
            for batch_id, created_by in Batch.objects.values_list("id", "created_by_id").iterator(chunk_size=10_000):
                if batch_id not in known:
                    self.problem(created_by, Code.BATCH_STATE, f"batch {batch_id}: a Batch row that no entry created")

    def _compare_column(self, index: int, batch_id: str, column: str, have: object, want: object) -> None:
        if _differs(have, want):
            name = column.removesuffix("_id")
            have, want = (_shown(value) for value in (have, want))
            self.problem(index, Code.BATCH_STATE, batch_state_message(batch_id, name, have, want))

    def _compare_claims(self) -> None:
        """Claim rows of the range's claim entries must be what those entries signed."""
        stored: dict[str, tuple[Any, ...]] = {
            vin: tuple(rest)
            for vin, *rest in Claim.objects.filter(entry_id__gte=self.start, entry_id__lt=self.end).values_list(
                "vin", *CLAIM_COLUMNS
            )
        }
        for vin in sorted(self.claims.keys() | stored.keys()):
            want, have = self.claims.get(vin), stored.get(vin)
            if have is None:
                assert want is not None  # the VIN is the signed one's or the stored one's
                self.problem(want[0], Code.CLAIM_STATE, f"claim {vin}: no Claim row")
            elif want is None:
                self.problem(have[0], Code.CLAIM_STATE, f"claim {vin}: a Claim row that no claim entry signed")
            elif any(_differs(a, b) for a, b in zip(have, want, strict=True)):
                message = f"claim {vin}: the stored Claim row differs from the signed claim"
                self.problem(want[0], Code.CLAIM_STATE, message)

    # --- loading -----------------------------------------------------------

    def _load_signatures(self, chunk_start: int, chunk_end: int) -> dict[int, dict[str, SignatureRecord]]:
        """Signature records of the chunk (one query), and keys not seen yet (one more)."""
        rows = EntrySignature.objects.filter(entry_id__gte=chunk_start, entry_id__lt=chunk_end).values_list(
            "entry_id", "key_id", "organization_id", "is_issuer"
        )
        by_entry: dict[int, dict[str, SignatureRecord]] = defaultdict(dict)
        for entry_id, keyid, org, is_issuer in rows:
            by_entry[entry_id][keyid] = (org, is_issuer)
        unseen = {keyid for records in by_entry.values() for keyid in records} - self.keys.keys()
        if unseen:
            self.keys.update(verifying_keys(unseen))
        return by_entry

    def key(self, keyid: str) -> Key | None:
        """A key named by an envelope but by no signature record (rare: tampering)."""
        if keyid not in self.keys:
            self.keys.update(verifying_keys([keyid]))
        return self.keys.get(keyid)

    def _load_links(self, chunk_start: int, chunk_end: int) -> dict[int, dict[str, LinkRow]]:
        rows = BatchLink.objects.filter(entry_id__gte=chunk_start, entry_id__lt=chunk_end).values_list(
            "entry_id",
            "batch_id",
            "role",
            "prev",
            "quantity",
            "custodian_before_id",
            "custodian_after_id",
        )
        by_entry: dict[int, dict[str, LinkRow]] = defaultdict(dict)
        batch_ids = set()
        for entry_id, batch_id, role, prev, quantity, before, after in rows:
            by_entry[entry_id][batch_id] = (role, prev, quantity, before, after)
            batch_ids.add(batch_id)
        self._load_earlier_batches(batch_ids - self.batches.keys())
        return by_entry

    def _load_earlier_batches(self, batch_ids: set[str]) -> None:
        """Replay state of batches last touched before this range, in one query.

        Links before `start` were checked by earlier runs; their stored
        custody, quantities and entry hashes seed the replay.
        """
        if not batch_ids or self.start == 0:
            return
        rows = (
            BatchLink.objects.filter(batch_id__in=batch_ids, entry_id__lt=self.start)
            .order_by("entry_id")
            .values_list(
                "batch_id",
                "entry_id",
                "role",
                "quantity",
                "custodian_after_id",
                "entry__entry_hash",
                "batch__quantity",
                "batch__carries",
            )
        )
        for batch_id, entry_id, role, quantity, custodian, entry_hash, total, carries in rows:
            state = self.batches.get(batch_id)
            if state is None:
                state = self.batches[batch_id] = BatchState(total, Decimal(0), custodian, "", 0, carries or ())
            if role in CONSUMING and quantity is not None:
                state.consumed = amounts.total(state.consumed, quantity)
            state.custodian, state.head, state.last_index = custodian, entry_hash, entry_id

    # --- one entry -----------------------------------------------------------

    def check_entry(
        self,
        entry: StoredEntry,
        records: Mapping[str, SignatureRecord],
        links: Mapping[str, LinkRow],
        times: tuple[dt.datetime, ...] = (),
    ) -> bytes:
        """All checks of one entry; returns its leaf hash recomputed from the envelope.

        `times`: the stored (issued_at, occurred_at), compared with the signed ones."""
        index = entry.index
        checked = check_stored(entry)
        if checked.leaf.hex() != entry.leaf_hash:
            self.bad_leaves.append(index)
        self.problems += checked.problems
        decoded = checked.decoded
        if decoded is None:
            return checked.leaf
        if decoded.is_ledger_entry:
            self._check_ledger_entry(index, decoded, records, times)
            return checked.leaf
        self.problems += check_signatures(index, entry.integrated_time, decoded, self.key)
        self.problems += check_signature_records(index, decoded, records)
        document = decoded.payload
        try:
            if times and times != _signed_times(document):
                self.problem(index, Code.STATEMENT, "stored issued_at or occurred_at differ from the signed payload")
            self._replay(index, entry.entry_hash, document, links)
        except (KeyError, TypeError, AttributeError, ValueError, InvalidOperation):
            self.problem(index, Code.STATEMENT, "signed payload is not a valid statement")
        return checked.leaf

    def _check_ledger_entry(
        self, index: int, decoded: Decoded, records: Mapping[str, SignatureRecord], times: tuple[dt.datetime, ...]
    ) -> None:
        """A ledger entry (contract §12): the ledger's one signature, the grammar, its stored times.
        What it says is replayed against the tables by audit.ledger_views."""
        self.problems += check_ledger_signature(index, decoded, *ledger_verifier())
        if records:
            self.problem(index, Code.SIGNATURE_RECORDS, "a ledger entry has signature records")
        try:
            ledger_entries.check(decoded.payload)
        except ledger_entries.LedgerEntryError as exc:
            self.problem(index, Code.STATEMENT, f"signed payload is not a ledger entry: {exc}")
            return
        at = ledger_entries.moment(decoded.payload["at"])
        if times and times != (at, at):
            self.problem(index, Code.STATEMENT, "stored issued_at or occurred_at differ from the signed `at`")

    def _replay(self, index: int, entry_hash: str, document: Statement, links: Mapping[str, LinkRow]) -> None:
        """Chain links, custody and mass balance from the signed statement."""
        kind, issuer = document["type"], document["issuer"]
        expected: dict[str, LinkRow] = {}
        named = document["inputs"] if kind == "transform" else [document] if "prev" in document else []
        for item in named:
            batch_id = item["batch"]
            quantity = Decimal(item["quantity"]) if kind in ("transform", "claim", "sale") else None
            role = "consumed" if kind == "transform" else LINK_ROLE[kind]
            expected[batch_id] = self._step(index, entry_hash, kind, issuer, item, quantity, role, document)
        carried = sorted(
            {m for item in named if item["batch"] in self.batches for m in self.batches[item["batch"]].carries}
        )
        for output in document.get("outputs", ()):
            expected[output["batch"]] = self._create(index, entry_hash, issuer, output, document, carried)
        if kind in ("origin", "transform"):
            self._compare_agreement_links(index, document, carried)
        elif self.agreement_links.get(index):
            self.problem(index, Code.AGREEMENT_LINK, f"a {kind} entry has agreement links")
        if kind == "claim":
            self.claims[document["vin"]] = (
                index,
                document["batch"],
                issuer,
                dt.date.fromisoformat(document["acquired"]),
                dt.date.fromisoformat(document["placed_in_service"]),
                document["final_assembly"]["country"],
            )
        self._compare_links(index, expected, links)

    def _step(
        self,
        index: int,
        entry_hash: str,
        kind: str,
        issuer: str,
        item: Statement,
        quantity: Decimal | None,
        role: str,
        document: Statement,
    ) -> LinkRow:
        batch_id, prev = item["batch"], item["prev"]
        state = self.batches.get(batch_id)
        if state is None:
            self.problems.append(not_created(index, batch_id))
            return (role, prev, quantity, None, None)
        self.problems += check_prev(index, batch_id, prev, state.head)
        before = state.custodian
        if kind not in CO_SIGNED_TYPES and issuer != before:
            self.problem(index, Code.CUSTODY, f"batch {batch_id}: issuer {issuer} is not the custodian {before}")
        if quantity is not None:
            state.consumed = amounts.total(state.consumed, quantity)
            if state.consumed > state.quantity:
                self.problem(
                    index,
                    Code.MASS_BALANCE,
                    f"batch {batch_id}: {state.consumed} consumed exceeds its quantity {state.quantity}",
                )
        if kind == "transfer":
            state.custodian = document["to"]
        link = (role, state.head, quantity, before, state.custodian)
        state.head, state.last_index = entry_hash, index
        return link

    def _create(
        self, index: int, entry_hash: str, issuer: str, output: Statement, document: Statement, carried: list[str]
    ) -> LinkRow:
        batch_id = output["batch"]
        if batch_id in self.batches:
            self.problems.append(created_again(index, batch_id, self.batches[batch_id].last_index))
        minerals = output.get("minerals", {})
        carries = sorted(minerals) if document["type"] == "origin" else carried
        row = {
            "owner_id": issuer,
            "material": output["material"],
            "unit": output["unit"],
            "quantity": Decimal(output["quantity"]),
            "created_by_id": index,
            "site_country": document["site"]["country"],
            "minerals": minerals,
            "carries": carries,
            "value_added_usd": Decimal(output["value_added_usd"]),
            "component": output.get("component", ""),
        }
        self.batches[batch_id] = BatchState(row["quantity"], Decimal(0), issuer, entry_hash, index, carries, row)
        return ("created", "", None, None, issuer)

    def _load_agreement_links(self, chunk_start: int, chunk_end: int) -> dict[int, set[AgreementLinkKey]]:
        rows = EntryAgreementLink.objects.filter(entry_id__gte=chunk_start, entry_id__lt=chunk_end)
        found: dict[int, set[AgreementLinkKey]] = defaultdict(set)
        for entry_id, agreement, mineral, country in rows.values_list("entry_id", "agreement_id", "mineral", "country"):
            found[entry_id].add((agreement, mineral, str(country)))
        return found

    def _compare_agreement_links(self, index: int, document: Statement, carried: list[str]) -> None:
        """The stored agreement links are those the logged rules give for the signed statement
        (provenance.linking: the site's country, the minerals carried, the day it occurred)."""
        country = document["site"]["country"]
        if document["type"] == "origin":
            minerals = {name for output in document["outputs"] for name in output["minerals"]}
        else:
            minerals = set(carried)
        on = dt.datetime.fromisoformat(document.get("occurred_at", document["issued_at"])).date()
        wanted = {
            (agreement, mineral, country)
            for agreement, mineral in planned_agreements(
                country=country, minerals=minerals, on=on, ruleset=self.ruleset
            )
        }
        stored = self.agreement_links.get(index, set())
        for agreement, mineral, where in sorted(stored - wanted):
            message = f"agreement link to {agreement} for {mineral} ({where}): the logged rules give no such link"
            self.problem(index, Code.AGREEMENT_LINK, message)
        for agreement, mineral, where in sorted(wanted - stored):
            message = f"no agreement link to {agreement} for {mineral} ({where}), which the logged rules give"
            self.problem(index, Code.AGREEMENT_LINK, message)

    def _compare_links(self, index: int, expected: Mapping[str, LinkRow], stored: Mapping[str, LinkRow]) -> None:
        """Stored links must say what the replay says: role, prev, quantity, custody."""
        for batch_id in sorted(expected.keys() | stored.keys()):
            want, have = expected.get(batch_id), stored.get(batch_id)
            if want is None or have is None:
                where = "no stored link" if have is None else "a stored link the statement does not name"
                self.problem(index, Code.LINK, f"batch {batch_id}: {where}")
                continue
            role, prev, quantity, before, after = have
            if prev != want[1]:
                self.problem(
                    index,
                    Code.LINK,
                    f"batch {batch_id}: stored link prev {prev or '(none)'} is not the previous "
                    f"entry touching the batch {want[1] or '(none)'}",
                )
            if role != want[0] or quantity != want[2] or (want[3] or before) != before or after != want[4]:
                self.problem(
                    index,
                    Code.LINK,
                    f"batch {batch_id}: stored link role, quantity or custody differ from the signed statement",
                )


def batch_state_message(batch_id: str, column: str, have: object, want: object) -> str:
    """The Batch row is the suspect: it says `have` where the signed entries say `want`."""
    return f"batch {batch_id}: the stored row says {column} {have}; the signed entries say {want}"


def _parts(values: list[str], size: int = 1000) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _differs(have: object, want: object) -> bool:
    """Stored and replayed values differ (a country is stored as a Country)."""
    return bool(getattr(have, "code", have) != want)


def _shown(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return getattr(value, "code", value)


def ledger_verifier() -> tuple[Key, str]:
    """The ledger key, as a verifier of ledger entries, and its keyid."""
    key = ledger_key.current()
    return Key.of(key.public_key, "", dt.datetime.fromtimestamp(0, dt.UTC), None), key.keyid


def _signed_times(document: Statement) -> tuple[dt.datetime, dt.datetime]:
    issued = dt.datetime.fromisoformat(document["issued_at"])
    occurred = dt.datetime.fromisoformat(document.get("occurred_at", document["issued_at"]))
    return issued, occurred


class TreeRebuild:
    """The Merkle tree rebuilt leaf by leaf from recomputed leaf hashes.

    Seeded with the stored perfect subtrees left of `start` (the frontier at
    `start`), so a range check continues the tree where earlier ranges
    verified it; every perfect subtree that completes inside the range is
    compared with its stored node, and the root at each checkpoint size in
    the range with the checkpoint's signed root.
    """

    def __init__(self, checker: RangeChecker, start: int) -> None:
        self.checker = checker
        self.frontier: list[bytes] | None = self._stored_frontier(start, report=True)

    def _stored_frontier(self, size: int, *, report: bool = False) -> list[bytes] | None:
        nodes = merkle.root_nodes(size)
        try:
            hashes = tlog.fetch_nodes(nodes)
        except tlog.TreeIncomplete as exc:
            if report:
                self.checker.problem(max(size - 1, 0), Code.TREE, f"cannot rebuild the tree: {exc}")
            return None
        return [hashes[node] for node in nodes]

    def reseed(self, size: int) -> None:
        """After a missing entry, continue from the stored tree at `size`.

        The stored frontier at `size` may itself need the missing leaf; the
        tree is then unknown until a later size whose frontier is stored.
        """
        self.frontier = self._stored_frontier(size)

    @staticmethod
    def load_nodes(chunk_start: int, chunk_end: int) -> dict[int, str]:
        """Stored nodes completed by leaves [chunk_start, chunk_end), in one query.

        Node (level, j) completes at leaf (j + 1) * 2**level - 1.
        """
        condition = Q()
        for level in range(1, chunk_end.bit_length() + 1):
            first = (chunk_start + 1 + (1 << level) - 1) // (1 << level) - 1
            last = chunk_end // (1 << level) - 1
            if first <= last:
                low, high = MerkleNode.node_id(level, first), MerkleNode.node_id(level, last)
                condition |= Q(id__gte=low, id__lte=high)
        if not condition:
            return {}
        return dict(MerkleNode.objects.filter(condition).values_list("id", "hash"))

    def add(self, index: int, leaf: bytes, stored: Mapping[int, str], checkpoint_roots: Mapping[int, str]) -> None:
        if self.frontier is None:
            self.reseed(index)
            if self.frontier is None:
                return
        self.frontier, completed = merkle.append_to_frontier(self.frontier, index, leaf)
        size = index + 1
        for level, position, node in completed:
            stored_hash = stored.get(MerkleNode.node_id(level, position))
            first_leaf = position << level
            if stored_hash != node.hex() and not self._explained(first_leaf, index):
                state = "is missing" if stored_hash is None else "differs from the rebuilt tree"
                self.checker.problem(
                    first_leaf,
                    Code.TREE,
                    f"stored Merkle node (level {level}, index {position}) over entries {first_leaf}..{index} {state}",
                )
        signed_root = checkpoint_roots.get(size)
        if signed_root is not None and merkle.root_from_frontier(self.frontier).hex() != signed_root:
            self.checker.problem(
                min(self.checker.bad_leaves, default=index),
                Code.INCLUSION,
                f"the tree rebuilt from the entries does not have checkpoint {size}'s signed root",
            )

    def _explained(self, first: int, last: int) -> bool:
        return any(first <= bad <= last for bad in self.checker.bad_leaves)

    def compare_frontier(self, size: int) -> None:
        if self.frontier is None or self.checker.bad_leaves:
            return
        state = LogState.objects.filter(id=1).values_list("size", "frontier").first()
        # Entries appended since the check began have moved the frontier on.
        if state and state[0] == size and state[1] != [node.hex() for node in self.frontier]:
            self.checker.problem(size - 1, Code.FRONTIER, "the log's stored frontier differs from the rebuilt tree")


# --- the whole log against its checkpoints -----------------------------------


def check_tree_against_checkpoints(*, since_size: int = 0) -> list[Problem]:
    """Checkpoints with tree_size >= since_size (and always the latest): their
    signatures and their roots in the stored tree; the frontier; missing rows."""
    # The latest checkpoint is read before the log's state: a checkpoint is
    # published after the entries it covers, so while appends and publishing
    # go on, every checkpoint read here is within the size read next.
    latest = Checkpoint.objects.order_by("-tree_size").values_list("tree_size", flat=True).first()
    state = LogState.objects.filter(id=1).values_list("size", "frontier").first() or (0, [])
    size, frontier = state
    problems = _check_rows(size)
    query = Checkpoint.objects.filter(tree_size__lte=latest or 0).filter(
        Q(tree_size__gte=since_size) | Q(tree_size=latest)
    )
    batch: list[Checkpoint] = []
    for checkpoint in query.order_by("tree_size").iterator(chunk_size=CHECKPOINT_BATCH):
        batch.append(checkpoint)
        if len(batch) == CHECKPOINT_BATCH:
            problems += _check_checkpoints(batch, size)
            batch = []
    problems += _check_checkpoints(batch, size)
    if size and _stored_roots([size]).get(size) != merkle.root_from_frontier(
        [bytes.fromhex(item) for item in frontier]
    ):
        problems.append(Problem(size - 1, Code.FRONTIER, "the log's frontier disagrees with the stored tree"))
    return in_order(problems)


def _check_rows(size: int) -> list[Problem]:
    """Entry rows are exactly 0..size-1 (a deleted row leaves a gap)."""
    beyond = list(Entry.objects.filter(index__gte=size).values_list("index", flat=True))
    if beyond:  # rows appended since `size` was read are fine; others are not
        size_now = tlog.current_size()
        beyond = [index for index in beyond if index >= size_now]
    problems = [Problem(index, Code.BEYOND_LOG, "entry row beyond the log's size") for index in beyond]
    if Entry.objects.filter(index__lt=size).count() == size:
        return problems
    present = Entry.objects.filter(index__lt=size).order_by("index").values_list("index", flat=True)
    expected = 0
    for index in present.iterator(chunk_size=10_000):
        problems += [missing(gap) for gap in range(expected, index)]
        expected = index + 1
    problems += [missing(gap) for gap in range(expected, size)]
    return problems


def missing(index: int) -> Problem:
    return Problem(index, Code.MISSING_ENTRY, "entry missing: no row at this index")


def _stored_roots(sizes: list[int]) -> dict[int, bytes | None]:
    """Roots of the stored tree at several sizes, from one query."""
    wanted = {size: merkle.root_nodes(size) for size in sizes if size}
    try:
        hashes = tlog.fetch_nodes({node for nodes in wanted.values() for node in nodes})
    except tlog.TreeIncomplete:
        hashes = {}
        for nodes in wanted.values():  # find which sizes lack a node
            try:
                hashes.update(tlog.fetch_nodes(nodes))
            except tlog.TreeIncomplete:
                continue
    return {
        size: merkle.fold([hashes[node] for node in nodes]) if all(n in hashes for n in nodes) else None
        for size, nodes in wanted.items()
    }


def _check_checkpoints(batch: list[Checkpoint], size: int) -> list[Problem]:
    problems = []
    roots = _stored_roots([checkpoint.tree_size for checkpoint in batch if checkpoint.tree_size <= size])
    for checkpoint in batch:
        index = max(checkpoint.tree_size - 1, 0)
        fault = checkpoints.verify_note(checkpoint)
        if fault:
            problems.append(Problem(index, Code.CHECKPOINT_SIGNATURE, fault))
        if checkpoint.tree_size > size:
            problems.append(Problem(index, Code.CHECKPOINT, f"checkpoint {checkpoint.tree_size} is beyond the log"))
        else:
            root = roots.get(checkpoint.tree_size) if checkpoint.tree_size else merkle.EMPTY_ROOT
            if root is None or root.hex() != checkpoint.root_hash:
                state = "lacks nodes" if root is None else "has another root"
                problems.append(
                    Problem(
                        index,
                        Code.CHECKPOINT,
                        f"the stored tree at checkpoint {checkpoint.tree_size} {state}",
                    )
                )
    return problems
