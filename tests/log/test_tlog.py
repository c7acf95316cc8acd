"""provenance.tlog: roots and proofs from the stored tree, for every size up to 64."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cairn_core import merkle
from provenance import tlog
from tests.support import LEAVES, MAX_SIZE, REFERENCE_ROOTS, append_bare_leaves, ref_path, ref_proof

pytestmark = pytest.mark.django_db


@pytest.fixture
def log64():
    append_bare_leaves(MAX_SIZE)


def test_roots_at_every_size(log64):
    for size in range(MAX_SIZE + 1):
        assert tlog.root_at(size) == REFERENCE_ROOTS[size]


def test_inclusion_proofs_for_every_index_and_size(log64):
    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            proof = tlog.inclusion_proof(index, size, log_size=MAX_SIZE)
            assert proof.hashes == ref_path(index, LEAVES[:size]), (index, size)
            assert proof.leaf_hash == merkle.leaf_hash(LEAVES[index])


def test_consistency_proofs_for_every_pair(log64):
    for second in range(1, MAX_SIZE + 1):
        for first in range(second + 1):
            proof = tlog.consistency_proof(first, second, log_size=MAX_SIZE)
            assert proof == ref_proof(first, LEAVES[:second]), (first, second)


def test_a_proof_reads_the_log_size_and_its_nodes_in_two_queries(log64):
    with CaptureQueriesContext(connection) as queries:
        tlog.inclusion_proof(37, 61)
    assert len(queries) == 2
    with CaptureQueriesContext(connection) as queries:
        tlog.consistency_proof(13, 61)
    assert len(queries) == 2


def test_sizes_beyond_the_log_are_refused(log64):
    with pytest.raises(tlog.ProofError):
        tlog.inclusion_proof(0, MAX_SIZE + 1)
    with pytest.raises(tlog.ProofError):
        tlog.inclusion_proof(MAX_SIZE, MAX_SIZE)
    with pytest.raises(tlog.ProofError):
        tlog.consistency_proof(5, MAX_SIZE + 1)
    with pytest.raises(tlog.ProofError):
        tlog.consistency_proof(9, 8)
    with pytest.raises(tlog.ProofError):
        tlog.root_at(MAX_SIZE + 1)


def test_entries_give_the_exact_leaf_input(log64):
    rows = tlog.entries(3, 5)
    assert rows == [
        {
            "index": 3,
            "leaf_input": '{"envelope":{},"integrated_time":0}',
            "leaf_hash": merkle.leaf_hash(LEAVES[3]).hex(),
        },
        {
            "index": 4,
            "leaf_input": '{"envelope":{},"integrated_time":0}',
            "leaf_hash": merkle.leaf_hash(LEAVES[4]).hex(),
        },
    ]
