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


# --- Trees of any size from stored perfect subtrees ------------------------
#
# A log stores the leaves (level 0) and every perfect subtree as it completes
# (level >= 1): node (level, index) covers leaves [index * 2**level,
# (index + 1) * 2**level). Every hash RFC 9162 needs -- a root at any size,
# each element of an inclusion or consistency proof -- is the MTH of a range
# [start, end) of leaves that begins on a multiple of a power of two at least
# as large as the range. Such a range is a handful of stored perfect subtrees,
# largest first, folded from the right exactly as RFC 9162 §2.1.1 splits it.
# So proofs are planned as lists of ranges, the nodes they need are fetched in
# one query, and the hashes are assembled here without a database.

Node = tuple[int, int]  # (level, index)


def largest_power_of_two_below(n: int) -> int:
    """RFC 9162 §2.1.1's k: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees whose fold is MTH(D[start:end]), largest first.

    Greedy largest-first decomposition: each chunk is the largest power of
    two that is aligned at the current position and fits in what is left.
    For the ranges RFC 9162 recursion produces this is exactly its split.
    """
    nodes: list[Node] = []
    position = start
    while position < end:
        level = (end - position).bit_length() - 1
        while position % (1 << level):
            level -= 1
        nodes.append((level, position >> level))
        position += 1 << level
    return nodes


def fold(hashes: list[bytes]) -> bytes:
    """Combine perfect subtree hashes, largest (leftmost) first, from the right."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for subtree in reversed(hashes[:-1]):
        result = node_hash(subtree, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PATH(index, D[0:size]), leaf to root.

    RFC 9162 §2.1.3.1: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) when
    m < k, else PATH(m - k, D[k:n]) : MTH(D[0:k]).
    """
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = largest_power_of_two_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start = start + k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PROOF(first, D[0:second]).

    RFC 9162 §2.1.4.1's SUBPROOF, unrolled. The proof between equal sizes,
    or from the empty tree, is empty.
    """
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first in (0, second):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, complete = 0, second, True
    while first != end:
        k = largest_power_of_two_below(end - start)
        if first - start <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, complete = start + k, False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def nodes_for(ranges: list[tuple[int, int]]) -> set[Node]:
    """Every stored node needed to compute the MTHs of these ranges."""
    return {node for start, end in ranges for node in range_nodes(start, end)}


def assemble(ranges: list[tuple[int, int]], hashes: dict[Node, bytes]) -> list[bytes]:
    """The MTH of each range, from fetched node hashes (KeyError if one is missing)."""
    return [fold([hashes[node] for node in range_nodes(start, end)]) for start, end in ranges]


def root_nodes(size: int) -> list[Node]:
    """The perfect subtrees of a tree of `size` leaves: its frontier."""
    return range_nodes(0, size)


# --- Verification (RFC 9162 §2.1.3.2 and §2.1.4.2) --------------------------


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 steps 1-4; raises ValueError where the proof is malformed."""
    if not 0 <= index < size:
        raise ValueError("leaf index is not in the tree")
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ValueError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("inclusion proof is too short")
    return result


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """True when `proof` proves leaf hash `leaf` at `index` in the tree with `root`."""
    try:
        return root_from_inclusion_proof(index, size, leaf, proof) == root
    except ValueError:
        return False


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (second, second_root) an append-only
    extension of (first, first_root)? Equal sizes need equal roots and an
    empty proof; every tree extends the empty one (empty proof)."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is a node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(node, fr), node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, node)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0
