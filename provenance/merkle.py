"""Merkle tree hashing per RFC 9162 §2.1 (Certificate Transparency v2).

    leaf hash = SHA-256(0x00 || leaf input)
    node hash = SHA-256(0x01 || left || right)
    empty tree = SHA-256()

No Django import.
"""

from __future__ import annotations

import hashlib

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def append_to_frontier(
    frontier: list[bytes], size: int, new_leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Add leaf number `size` to a tree given by its frontier.

    The frontier is the list of roots of the perfect subtrees that make up a
    tree of `size` leaves, largest first (one per set bit of `size`). Returns
    the new frontier and the perfect subtrees completed by this leaf, as
    (level, index, hash) with level >= 1: the nodes a log stores.
    """
    frontier = list(frontier)
    completed: list[tuple[int, int, bytes]] = []
    current = new_leaf
    level = 0
    position = size
    # Each trailing 1-bit of size is a perfect subtree that now gets a sibling.
    while position & 1:
        current = node_hash(frontier.pop(), current)
        level += 1
        position >>= 1
        completed.append((level, position, current))
    frontier.append(current)
    return frontier, completed


def root_from_frontier(frontier: list[bytes]) -> bytes:
    """The tree head: fold the perfect subtrees from the right."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for subtree in reversed(frontier[:-1]):
        root = node_hash(subtree, root)
    return root
