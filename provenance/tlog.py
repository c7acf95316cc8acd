"""The transparency log's storage: perfect subtrees as they complete.

Called by the write path with the LogState row locked, so the tree grows in
the same transaction as the entry it covers.
"""

from __future__ import annotations

from provenance import merkle
from provenance.models import LogState, MerkleNode


def append_leaf(state: LogState, leaf_hash: bytes) -> None:
    """Add one leaf at index state.size; the caller holds the tail lock."""
    frontier = [bytes.fromhex(item) for item in state.frontier]
    frontier, completed = merkle.append_to_frontier(frontier, state.size, leaf_hash)
    if completed:
        MerkleNode.objects.bulk_create(
            [
                MerkleNode(id=MerkleNode.node_id(level, index), hash=node.hex())
                for level, index, node in completed
            ]
        )
    state.frontier = [item.hex() for item in frontier]
    state.size += 1
