"""cairn_core.merkle (RFC 9162 §2.1) against an independent reference.

The reference below is RFC 9162's recursive definitions over a plain list of
leaves: MTH, PATH and SUBPROOF exactly as written in §2.1.1, §2.1.3.1 and
§2.1.4.1, sharing no code with cairn_core.merkle.
"""

from __future__ import annotations

import hashlib

import pytest

from cairn_core import merkle
from tests.support import LEAF_HASHES, LEAVES, MAX_SIZE, REFERENCE_ROOTS, ref_mth, ref_path, ref_proof

# --- the reference -----------------------------------------------------------


# --- fixtures -------------------------------------------------------------------


def stored_tree(size: int) -> dict[merkle.Node, bytes]:
    """What a log stores after `size` appends: leaves and completed subtrees."""
    nodes: dict[merkle.Node, bytes] = {}
    frontier: list[bytes] = []
    for index in range(size):
        nodes[(0, index)] = LEAF_HASHES[index]
        frontier, completed = merkle.append_to_frontier(frontier, index, LEAF_HASHES[index])
        nodes.update({(level, position): node for level, position, node in completed})
    return nodes


STORED = stored_tree(MAX_SIZE)

# RFC 6962 / transparency-dev test vectors: eight leaves and the root at each size.
CT_LEAVES = [
    bytes.fromhex(item)
    for item in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


# --- roots ------------------------------------------------------------------------


def test_empty_root_is_sha256_of_nothing():
    assert merkle.EMPTY_ROOT.hex() == ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert merkle.fold([]) == merkle.EMPTY_ROOT


def test_ct_test_vectors():
    frontier: list[bytes] = []
    for size, data in enumerate(CT_LEAVES, start=1):
        frontier, _ = merkle.append_to_frontier(frontier, size - 1, merkle.leaf_hash(data))
        assert merkle.root_from_frontier(frontier).hex() == CT_ROOTS[size - 1]
        assert ref_mth(CT_LEAVES[:size]).hex() == CT_ROOTS[size - 1]


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_root_at_every_size_from_stored_subtrees(size):
    nodes = merkle.root_nodes(size)
    assert len(nodes) == bin(size).count("1")
    assert merkle.fold([STORED[node] for node in nodes]) == REFERENCE_ROOTS[size]
    # Only nodes completed by then are needed: no request touches the future.
    assert all((position + 1) << level <= size for level, position in nodes)


def test_range_nodes_are_aligned_perfect_subtrees():
    assert merkle.range_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert merkle.range_nodes(8, 13) == [(2, 2), (0, 12)]
    assert merkle.range_nodes(12, 16) == [(2, 3)]
    assert merkle.range_nodes(5, 5) == []


# --- inclusion --------------------------------------------------------------------


def test_inclusion_proofs_for_every_index_and_size():
    checked = 0
    for size in range(1, MAX_SIZE + 1):
        root = REFERENCE_ROOTS[size]
        for index in range(size):
            ranges = merkle.inclusion_ranges(index, size)
            proof = merkle.assemble(ranges, STORED)
            assert proof == ref_path(index, LEAVES[:size]), (index, size)
            assert merkle.verify_inclusion(index, size, LEAF_HASHES[index], proof, root)
            # At most one range is not a perfect subtree: O(log n) stored nodes.
            assert len(merkle.nodes_for(ranges)) <= 2 * size.bit_length()
            checked += 1
    assert checked == MAX_SIZE * (MAX_SIZE + 1) // 2


def test_inclusion_rejects_wrong_leaf_index_size_or_path():
    size, index = 13, 6
    proof = merkle.assemble(merkle.inclusion_ranges(index, size), STORED)
    root = REFERENCE_ROOTS[size]
    assert merkle.verify_inclusion(index, size, LEAF_HASHES[index], proof, root)
    assert not merkle.verify_inclusion(index, size, LEAF_HASHES[index + 1], proof, root)
    assert not merkle.verify_inclusion(index + 1, size, LEAF_HASHES[index], proof, root)
    # (A wrong size with the same path shape, like 14 here, yields the same
    # root: the root, not the size, is what the proof binds.)
    assert not merkle.verify_inclusion(index, 8, LEAF_HASHES[index], proof, root)
    assert not merkle.verify_inclusion(index, size, LEAF_HASHES[index], proof[:-1], root)
    assert not merkle.verify_inclusion(index, size, LEAF_HASHES[index], [*proof, root], root)
    assert not merkle.verify_inclusion(size, size, LEAF_HASHES[index], proof, root)
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(size, size)


# --- consistency -------------------------------------------------------------------


def test_consistency_proofs_for_every_pair_of_sizes():
    checked = 0
    for second in range(1, MAX_SIZE + 1):
        for first in range(0, second + 1):
            ranges = merkle.consistency_ranges(first, second)
            proof = merkle.assemble(ranges, STORED)
            assert proof == ref_proof(first, LEAVES[:second]), (first, second)
            assert merkle.verify_consistency(first, second, REFERENCE_ROOTS[first], REFERENCE_ROOTS[second], proof), (
                first,
                second,
            )
            assert len(merkle.nodes_for(ranges)) <= 2 * second.bit_length() + 1
            checked += 1
    assert checked == sum(n + 1 for n in range(1, MAX_SIZE + 1))


def test_consistency_rejects_forks_and_bad_proofs():
    first, second = 6, 13
    proof = merkle.assemble(merkle.consistency_ranges(first, second), STORED)
    old, new = REFERENCE_ROOTS[first], REFERENCE_ROOTS[second]
    assert merkle.verify_consistency(first, second, old, new, proof)
    assert not merkle.verify_consistency(first, second, REFERENCE_ROOTS[5], new, proof)
    assert not merkle.verify_consistency(first, second, old, REFERENCE_ROOTS[12], proof)
    assert not merkle.verify_consistency(first, 8, old, new, proof)
    assert not merkle.verify_consistency(first, second, old, new, proof[:-1])
    assert not merkle.verify_consistency(first, second, old, new, [])
    assert not merkle.verify_consistency(second, first, new, old, proof)
    assert not merkle.verify_consistency(7, 7, old, new, [])
    assert not merkle.verify_consistency(0, 7, old, new, [old])
    forked = [*proof[:-1], hashlib.sha256(b"fork").digest()]
    assert not merkle.verify_consistency(first, second, old, new, forked)
