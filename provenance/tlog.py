"""The transparency log's storage: perfect subtrees as they complete.

Leaves are Entry.leaf_hash (level 0); every perfect subtree of level >= 1 is
a MerkleNode row, made by `grow` and written in the append transaction (the
write path holds the LogState lock). Any root, inclusion proof or
consistency proof for any tree size up to LogState.size is then O(log n)
stored hashes, planned by cairn_core.merkle and fetched in one query.

Reads take no lock: a committed LogState.size is always covered by
committed nodes, because the nodes commit with the entry that completes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cairn_core import merkle
from cairn_core.entries import leaf_input_text
from provenance.models import Entry, LogState, MerkleNode

INDEX_MASK = (1 << MerkleNode.LEVEL_SHIFT) - 1


class ProofError(ValueError):
    """A proof or root was asked for sizes or indexes outside the log."""


class TreeIncomplete(LookupError):
    """A stored node the tree needs is missing (the database was tampered with)."""


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]

    def as_json(self) -> dict[str, object]:
        """The contract's body for GET /log/proof/inclusion (§5)."""
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "hashes": [item.hex() for item in self.hashes],
        }


def grow(state: LogState, leaf_hashes: list[bytes]) -> list[tuple[int, str]]:
    """Add leaves at state.size onward: update `state` in memory and return the
    perfect subtrees they complete, as MerkleNode (id, hash) values to store.
    The caller holds the tail lock."""
    frontier = [bytes.fromhex(item) for item in state.frontier]
    nodes = []
    for leaf_hash in leaf_hashes:
        frontier, completed = merkle.append_to_frontier(frontier, state.size, leaf_hash)
        nodes += [(MerkleNode.node_id(level, index), node.hex()) for level, index, node in completed]
        state.size += 1
    state.frontier = [item.hex() for item in frontier]
    return nodes


def append_leaf(state: LogState, leaf_hash: bytes) -> None:
    """Add one leaf and store the nodes it completes (proof fixtures, scripts)."""
    MerkleNode.objects.bulk_create([MerkleNode(id=id_, hash=hash_) for id_, hash_ in grow(state, [leaf_hash])])


def current_size() -> int:
    return LogState.objects.filter(id=1).values_list("size", flat=True).first() or 0


def fetch_nodes(nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """Hashes of the given (level, index) nodes in one query.

    Leaves come from Entry.leaf_hash and larger subtrees from MerkleNode; a
    UNION ALL keeps it one round trip. Level 0's packed id is the index.
    """
    wanted = set(nodes)
    leaf_ids = [index for level, index in wanted if level == 0]
    node_ids = [MerkleNode.node_id(level, index) for level, index in wanted if level > 0]
    leaves = Entry.objects.filter(index__in=leaf_ids).values_list("index", "leaf_hash").order_by()
    inner = MerkleNode.objects.filter(id__in=node_ids).values_list("id", "hash").order_by()
    if leaf_ids and node_ids:
        rows = list(leaves.union(inner, all=True))
    else:
        rows = list(leaves if leaf_ids else inner) if wanted else []
    found: dict[merkle.Node, bytes] = {}
    for packed, hex_hash in rows:
        # Leaf rows carry the index (< 2**48, so level 0), node rows the packed id.
        level, index = packed >> MerkleNode.LEVEL_SHIFT, packed & INDEX_MASK
        found[(level, index)] = bytes.fromhex(hex_hash)
    missing = wanted - found.keys()
    if missing:
        raise TreeIncomplete(f"stored tree lacks node(s) {sorted(missing)[:5]}")
    return found


def _assemble(ranges: list[tuple[int, int]]) -> list[bytes]:
    return merkle.assemble(ranges, fetch_nodes(merkle.nodes_for(ranges)))


def _check_size(tree_size: int, log_size: int | None = None) -> None:
    log_size = current_size() if log_size is None else log_size
    if not 0 <= tree_size <= log_size:
        raise ProofError(f"tree size {tree_size} is beyond the log's size {log_size}")


def root_at(tree_size: int, *, log_size: int | None = None) -> bytes:
    """The RFC 9162 root of the first `tree_size` entries."""
    _check_size(tree_size, log_size)
    if tree_size == 0:
        return merkle.EMPTY_ROOT
    return _assemble([(0, tree_size)])[0]


def inclusion_proof(index: int, tree_size: int, *, log_size: int | None = None) -> InclusionProof:
    """RFC 9162 §2.1.3 audit path for entry `index` in the tree of `tree_size`."""
    _check_size(tree_size, log_size)
    if not 0 <= index < tree_size:
        raise ProofError(f"index {index} is not below tree size {tree_size}")
    ranges = [(index, index + 1), *merkle.inclusion_ranges(index, tree_size)]
    hashes = _assemble(ranges)
    return InclusionProof(index, tree_size, hashes[0], hashes[1:])


def inclusion_paths(indexes: Iterable[int], tree_size: int) -> dict[int, list[bytes]]:
    """RFC 9162 §2.1.3 audit paths of many entries in the tree of `tree_size`, in one query."""
    _check_size(tree_size)
    plans = {index: merkle.inclusion_ranges(index, tree_size) for index in indexes}
    if any(not 0 <= index < tree_size for index in plans):
        raise ProofError(f"an index is not below tree size {tree_size}")
    stored = fetch_nodes(set().union(*(merkle.nodes_for(ranges) for ranges in plans.values())))
    return {index: merkle.assemble(ranges, stored) for index, ranges in plans.items()}


def consistency_proof(first: int, second: int, *, log_size: int | None = None) -> list[bytes]:
    """RFC 9162 §2.1.4 proof that tree `second` extends tree `first`."""
    _check_size(second, log_size)
    if not 0 <= first <= second:
        raise ProofError(f"first {first} must lie between 0 and second {second}")
    return _assemble(merkle.consistency_ranges(first, second))


def entries(start: int, end: int) -> list[dict[str, object]]:
    """Leaf inputs and leaf hashes of entries [start, end), for auditors."""
    rows = Entry.objects.filter(index__gte=start, index__lt=end).order_by("index")
    return [
        {"index": index, "leaf_input": leaf_input_text(envelope, time), "leaf_hash": leaf_hash}
        for index, envelope, time, leaf_hash in rows.values_list("index", "envelope", "integrated_time", "leaf_hash")
    ]
