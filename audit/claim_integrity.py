"""Integrity of one claim's DAG: does every entry the verdict rests on still
say what was signed and logged?

The entries checked are those that created each batch of the claim's
upstream DAG and every entry that touched one of those batches up to and
including the claim (a transfer, a certification, another consumer). For
each entry:

* **signature**: every DSSE signature (Ed25519 over the PAE) verifies
  against its registered key, the key was valid at the entry's
  integrated_time, one key is the issuer's, and the stored signature
  records name exactly the envelope's keys;
* **entry hash**: SHA-256(PAE) of the stored envelope is the stored
  entry_hash, and the leaf hash SHA-256(0x00 || leaf input) is the stored
  leaf_hash (RFC 9162 §2.1);
* **statement**: the stored statement, type and issuer are the decoded
  payload's;
* **chain**: each batch's links, in index order, start with the entry that
  created it, and every later entry's signed `prev` for the batch is the
  recomputed entry_hash of the previous one (and the stored link's prev is
  the signed one: `link`); a transform that made a DAG batch names no input
  outside the DAG;
* **inclusion**: every leaf, recomputed from the stored envelope, is in the
  tree of the latest checkpoint, whose note is signed by the ledger key.

Inclusion is checked for all the DAG's leaves at once: the tree's root is
folded by RFC 9162 §2.1.1's recursion, from the recomputed leaves where a
subtree holds one of them and from stored perfect subtrees where it holds
none (one query for those). Each internal hash is computed once, so ~1,000
leaves cost ~2,000 hashes rather than 1,000 separate proofs. Only when that
root differs from the signed one are per-entry proofs (RFC 9162 §2.1.3)
built, from one bulk node fetch, to name the entries at fault.

The per-entry checks are cairn_core.entries', as for verify_ledger and the
bundle verifier, so the problem codes are the same (cairn_core.problems.Code).

The queries: signing keys, signature records and Merkle nodes (one each),
whatever the size of the DAG. The signatures are verified on a second
thread meanwhile (`ClaimCheck`).
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from cairn_core import merkle
from cairn_core.entries import (
    Decoded,
    Key,
    StoredEntry,
    check_prev,
    check_signature_records,
    check_signatures,
    check_stored,
    created_batches,
    named_batches,
    not_created,
)
from cairn_core.problems import Code, Problem
from provenance import checkpoints, tlog
from provenance.append import lookups
from provenance.keys import verifying_keys
from provenance.models import Checkpoint, Entry, EntrySignature
from provenance.upstream import UpstreamLink

__all__ = ["ClaimCheck", "IntegrityResult", "StoredEntry", "StoredLink"]


# A stored batch link (entry, batch, role, prev), as the upstream walk reads it.
StoredLink = UpstreamLink


@dataclass
class IntegrityResult:
    problems: list[Problem] = field(default_factory=list)
    # Decoded payloads by index: the signed statements the verdict is computed from.
    decoded: dict[int, Decoded] = field(default_factory=dict)
    # Leaf hashes recomputed from the stored leaf inputs, by index.
    leaves: dict[int, bytes] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        return not self.problems

    def add(self, index: int, code: str, message: str) -> None:
        self.problems.append(Problem(index, code, message))


class ClaimCheck:
    """The checks of one claim's DAG, the Ed25519 work on a second thread.

    libsodium releases the GIL while it verifies, so the signatures (the
    bulk of the cost) are checked while this thread checks chains and
    inclusion and the caller applies the rules to `decoded` payloads.
    `result()` waits for the signatures; call it exactly once.
    """

    def __init__(
        self,
        entries: Mapping[int, StoredEntry],
        links: Iterable[StoredLink],
        dag_batches: set[str] | frozenset[str],
        checkpoint: Checkpoint | None,
    ) -> None:
        self._result = IntegrityResult()
        for entry in entries.values():
            decode_entry(entry, self._result)
        self.keys = keys = load_keys(self._result.decoded)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ed25519")
        # The worker reads entries, decoded payloads and keys, and writes nothing shared.
        self._signatures = self._executor.submit(signature_problems, entries, self._result.decoded, keys)
        check_recorded_signatures(entries, self._result)
        check_chains(entries, links, dag_batches, self._result)
        check_inclusion(entries, checkpoint, self._result)

    @property
    def decoded(self) -> Mapping[int, Decoded]:
        return self._result.decoded

    def result(self) -> IntegrityResult:
        try:
            self._result.problems.extend(self._signatures.result())
        finally:
            self._executor.shutdown()
        self._result.problems.sort()
        return self._result


# --- the stored rows ----------------------------------------------------------------

# The columns of a StoredEntry, in its order (audit.integrity.ENTRY_FIELDS' columns).
ENTRY_COLUMNS = '"index", entry_hash, envelope, integrated_time, leaf_hash, type, issuer_id, statement'


def stored_entries(indexes: Collection[int]) -> dict[int, StoredEntry]:
    """The entries at `indexes`, in one query whose indexes are one array parameter (the ORM's
    `index__in` compiles a thousand parameters one by one, ~15 ms); the statement parsed as the
    ORM's JSONField parses it."""
    if not indexes:
        return {}
    where, params = lookups.one_of('"index"', sorted(indexes))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {ENTRY_COLUMNS} FROM {Entry._meta.db_table} WHERE {where}", params)
        rows = cursor.fetchall()
    return {row[0]: StoredEntry._make((*row[:7], _json(row[7]))) for row in rows}


def _json(value: object) -> Any:
    # psycopg hands Django's connections jsonb as text (the JSONField parses it), SQLite too.
    return json.loads(value) if isinstance(value, str | bytes) else value


# --- one entry: hashes and statement ------------------------------------------


def decode_entry(entry: StoredEntry, result: IntegrityResult) -> None:
    """Decode the stored envelope and compare its hashes and payload with the row."""
    checked = check_stored(entry)
    result.leaves[entry.index] = checked.leaf
    result.problems += checked.problems
    if checked.decoded is not None:
        result.decoded[entry.index] = checked.decoded


# --- signatures ------------------------------------------------------------------


def load_keys(decoded: Mapping[int, Decoded]) -> dict[str, Key]:
    """The registered keys the envelopes name, in one query."""
    return verifying_keys(keyid for item in decoded.values() for keyid in item.keyids)


def check_recorded_signatures(entries: Mapping[int, StoredEntry], result: IntegrityResult) -> None:
    """The stored signature records name exactly each envelope's keys (one query, its indexes one
    array parameter: Django's compiler spends ~10 ms on a thousand IN parameters)."""
    recorded: dict[int, set[str]] = defaultdict(set)
    if entries:
        where, params = lookups.one_of("entry_id", list(entries))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT entry_id, key_id FROM {EntrySignature._meta.db_table} WHERE {where}", params)
            for entry_id, keyid in cursor.fetchall():
                recorded[entry_id].add(keyid)
    for index, decoded in result.decoded.items():
        result.problems += check_signature_records(index, decoded, recorded[index])


def signature_problems(
    entries: Mapping[int, StoredEntry], decoded: Mapping[int, Decoded], keys: Mapping[str, Key]
) -> list[Problem]:
    """Ed25519 over each PAE: no database, safe on another thread."""
    problems = []
    for index, item in decoded.items():
        problems += check_signatures(index, entries[index].integrated_time, item, keys.get)
    return problems


# --- hash chains -------------------------------------------------------------------


@dataclass(frozen=True)
class ChainView:
    """What one entry signed about batches, and its recomputed entry_hash."""

    entry_hash: str
    named: Mapping[str, str | None]  # existing batch -> signed prev
    created: frozenset[str]
    is_transform: bool


def chain_view(entry: StoredEntry, decoded: Decoded | None) -> ChainView:
    payload = decoded.payload if decoded else entry.statement
    return ChainView(
        entry_hash=decoded.entry_hash if decoded else entry.entry_hash,
        named=named_batches(payload),
        created=frozenset(created_batches(payload)),
        is_transform=payload.get("type") == "transform",
    )


def check_chains(
    entries: Mapping[int, StoredEntry],
    links: Iterable[StoredLink],
    dag_batches: set[str] | frozenset[str],
    result: IntegrityResult,
) -> None:
    """Each batch's links form its hash chain, as signed."""
    views = {index: chain_view(entry, result.decoded.get(index)) for index, entry in entries.items()}
    by_batch: dict[str, list[StoredLink]] = defaultdict(list)
    for link in links:
        by_batch[link.batch].append(link)
    for batch, chain in sorted(by_batch.items()):
        chain.sort(key=lambda link: link.entry)
        _check_chain(batch, chain, views, result)
    for index, view in views.items():
        if view.is_transform and not view.created.isdisjoint(dag_batches):
            outside = sorted(set(view.named) - dag_batches)
            if outside:
                message = f"signed inputs {', '.join(outside)} have no stored link"
                result.add(index, Code.CHAIN, message)


def _check_chain(batch: str, chain: list[StoredLink], views: Mapping[int, ChainView], result: IntegrityResult) -> None:
    previous: int | None = None
    for link in chain:
        view = views[link.entry]
        if previous is None:
            if link.role != "created" or batch not in view.created:
                result.problems.append(not_created(link.entry, batch))
        else:
            expected = views[previous].entry_hash
            broken = check_prev(link.entry, batch, view.named.get(batch), expected)
            result.problems += broken
            if not broken and link.prev != expected:
                message = f"batch {batch}: stored link prev {link.prev} is not the signed prev {expected}"
                result.add(link.entry, Code.LINK, message)
        previous = link.entry


# --- Merkle inclusion under the checkpoint ------------------------------------------


def check_inclusion(entries: Mapping[int, StoredEntry], checkpoint: Checkpoint | None, result: IntegrityResult) -> None:
    """All leaves under the checkpoint's signed root, folded at once."""
    if not entries:
        return
    last = max(entries)
    if checkpoint is None:
        result.add(last, Code.INCLUSION, "no signed checkpoint covers the claim")
        return
    fault = checkpoints.verify_note(checkpoint)
    if fault:
        result.add(last, Code.CHECKPOINT_SIGNATURE, fault)
        return
    size = checkpoint.tree_size
    for index in sorted(entries):
        if index >= size:
            result.add(index, Code.INCLUSION, f"entry is beyond checkpoint {size}")
    leaves = {index: leaf for index, leaf in result.leaves.items() if index < size}
    try:
        root = batch_root(size, leaves, tlog.fetch_nodes(batch_nodes(size, sorted(leaves))))
    except tlog.TreeIncomplete as exc:
        result.add(last, Code.INCLUSION, f"the stored tree is incomplete: {exc}")
        return
    if root.hex() != checkpoint.root_hash:
        _name_excluded(size, leaves, bytes.fromhex(checkpoint.root_hash), result)


def batch_nodes(size: int, targets: list[int]) -> set[merkle.Node]:
    """Stored perfect subtrees needed beside the target leaves (sorted) to fold the root."""
    needed: set[merkle.Node] = set()

    def walk(start: int, end: int, low: int, high: int) -> None:
        if low == high:
            needed.update(merkle.range_nodes(start, end))
        elif end - start > 1:
            split = start + merkle.largest_power_of_two_below(end - start)
            middle = bisect.bisect_left(targets, split, low, high)
            walk(start, split, low, middle)
            walk(split, end, middle, high)

    walk(0, size, 0, len(targets))
    return needed


def batch_root(size: int, leaves: Mapping[int, bytes], stored: Mapping[merkle.Node, bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH of the tree, from the given leaves and stored subtrees."""
    targets = sorted(leaves)

    def mth(start: int, end: int, low: int, high: int) -> bytes:
        if low == high:
            return merkle.fold([stored[node] for node in merkle.range_nodes(start, end)])
        if end - start == 1:
            return leaves[start]
        split = start + merkle.largest_power_of_two_below(end - start)
        middle = bisect.bisect_left(targets, split, low, high)
        return merkle.node_hash(mth(start, split, low, middle), mth(split, end, middle, high))

    return mth(0, size, 0, len(targets))


def _name_excluded(size: int, leaves: Mapping[int, bytes], root: bytes, result: IntegrityResult) -> None:
    """Slow path: one RFC 9162 inclusion proof per entry, from one node fetch."""
    plans = {index: merkle.inclusion_ranges(index, size) for index in leaves}
    try:
        stored = tlog.fetch_nodes(set().union(*(merkle.nodes_for(r) for r in plans.values())))
    except tlog.TreeIncomplete as exc:
        result.add(max(leaves), Code.INCLUSION, f"the stored tree is incomplete: {exc}")
        return
    excluded = [
        index
        for index, ranges in sorted(plans.items())
        if not merkle.verify_inclusion(index, size, leaves[index], merkle.assemble(ranges, stored), root)
    ]
    for index in excluded:
        result.add(index, Code.INCLUSION, f"entry is not in the tree of checkpoint {size}")
    if not excluded:
        result.add(max(leaves), Code.INCLUSION, f"the DAG's leaves do not give checkpoint {size}'s root")
