"""GET /api/v1/log/...: checkpoint, key, proofs, entries (contract §4, §5)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from cairn_core import merkle, signed_note
from provenance import checkpoints
from provenance.models import Entry
from tests.support import LEAVES, MAX_SIZE, append_bare_leaves, ref_path, ref_proof

pytestmark = pytest.mark.django_db
LOG = "/api/v1/log"


def error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_no_checkpoint_before_the_first_is_published(api):
    assert error(api.get(f"{LOG}/checkpoint")) == (404, "not_found")


def test_the_empty_trees_checkpoint_is_served(api):
    checkpoints.publish_checkpoint()
    response = api.get(f"{LOG}/checkpoint")
    assert response.status_code == 200
    key = api.get(f"{LOG}/key").json()
    opened = signed_note.open_checkpoint(response.content.decode(), signed_note.parse_verifier(key["verifier"]))
    assert (opened.tree_size, opened.root_hash) == (0, hashlib.sha256(b"").digest())


def test_the_checkpoint_verifies_with_only_the_published_verifier(api, chain):
    checkpoints.publish_checkpoint()
    response = api.get(f"{LOG}/checkpoint", HTTP_ACCEPT="text/plain")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    key = api.get(f"{LOG}/key").json()
    assert set(key) == {"origin", "public_key", "verifier"}
    assert key["origin"] == "cairn.test/ledger"
    # An independent verifier: parse the string, check its key hash, open the note.
    name, key_hash, key_data = key["verifier"].split("+", 2)
    raw = base64.b64decode(key_data)
    assert raw == b"\x01" + base64.b64decode(key["public_key"])
    assert key_hash == signed_note.key_hash(name, raw[1:]).hex()
    checkpoint = signed_note.open_checkpoint(response.content.decode(), signed_note.parse_verifier(key["verifier"]))
    leaves = [entry.leaf_input.encode() for entry in Entry.objects.order_by("index")]
    assert checkpoint.tree_size == len(leaves)  # the ledger entries (contract §12) and the chain
    # The signed root is the RFC 9162 root of the entries' leaf inputs.
    frontier: list[bytes] = []
    for index, leaf_input in enumerate(leaves):
        frontier, _ = merkle.append_to_frontier(frontier, index, merkle.leaf_hash(leaf_input))
    assert checkpoint.root_hash == merkle.root_from_frontier(frontier)


def test_inclusion_proofs_over_http(api):
    append_bare_leaves(MAX_SIZE)
    for size, index in [(1, 0), (7, 6), (13, 4), (64, 37)]:
        response = api.get(f"{LOG}/proof/inclusion", {"index": index, "tree_size": size})
        assert response.status_code == 200
        assert response.json() == {
            "index": index,
            "tree_size": size,
            "leaf_hash": merkle.leaf_hash(LEAVES[index]).hex(),
            "hashes": [item.hex() for item in ref_path(index, LEAVES[:size])],
        }


def test_consistency_proofs_over_http(api):
    append_bare_leaves(MAX_SIZE)
    for first, second in [(0, 5), (5, 5), (3, 7), (13, 64)]:
        response = api.get(f"{LOG}/proof/consistency", {"first": first, "second": second})
        assert response.status_code == 200
        assert response.json() == {
            "first": first,
            "second": second,
            "hashes": [item.hex() for item in ref_proof(first, LEAVES[:second])],
        }


@pytest.mark.parametrize(
    "path, params",
    [
        ("proof/inclusion", {"index": 0, "tree_size": 9}),
        ("proof/inclusion", {"index": 8, "tree_size": 8}),
        ("proof/inclusion", {"index": 0, "tree_size": 0}),
        ("proof/inclusion", {"index": -1, "tree_size": 3}),
        ("proof/inclusion", {"index": "a", "tree_size": 3}),
        ("proof/inclusion", {"tree_size": 3}),
        ("proof/consistency", {"first": 2, "second": 9}),
        ("proof/consistency", {"first": 5, "second": 4}),
        ("proof/consistency", {"first": 5}),
        ("proof/consistency", {"first": "\u00b2", "second": 4}),  # a digit to str.isdigit, not to int()
        ("proof/inclusion", {"index": "\u0663", "tree_size": 4}),  # an Arabic-Indic three
        ("proof/inclusion", {"index": 0, "tree_size": "9" * 5000}),
    ],
)
def test_sizes_beyond_the_log_and_bad_parameters_are_400(api, path, params):
    append_bare_leaves(8)
    assert error(api.get(f"{LOG}/{path}", params)) == (400, "bad_request")


def test_public_endpoints_ignore_tokens(api):
    append_bare_leaves(2)
    response = api.get(
        f"{LOG}/proof/inclusion",
        {"index": 0, "tree_size": 2},
        HTTP_AUTHORIZATION="Token not-a-token",
    )
    assert response.status_code == 200


def test_entries_are_for_auditors(api, auditor, miner):
    append_bare_leaves(3)
    assert error(api.get(f"{LOG}/entries", {"start": 0, "end": 2})) == (401, "not_authenticated")
    response = api.get(f"{LOG}/entries", {"start": 0, "end": 2}, **miner.auth)
    assert error(response) == (403, "role_not_allowed")


def test_entries_give_leaf_inputs_truncated_to_the_log(api, auditor, chain):
    response = api.get(f"{LOG}/entries", {"start": 5, "end": 1005}, **auditor.auth)
    assert response.status_code == 200
    entries = Entry.objects.filter(index__gte=5).order_by("index")
    assert response.json() == {
        "entries": [
            {"index": entry.index, "leaf_input": entry.leaf_input, "leaf_hash": entry.leaf_hash} for entry in entries
        ]
    }
    for item in response.json()["entries"]:
        assert merkle.leaf_hash(item["leaf_input"].encode()).hex() == item["leaf_hash"]


@pytest.mark.parametrize(
    "params",
    [
        lambda size: {"start": 0, "end": 1001},
        lambda size: {"start": size + 1, "end": size + 2},  # starts beyond the log
        lambda size: {"start": 3, "end": 2},
        lambda size: {"start": 0},
    ],
    ids=["more_than_1000", "beyond_the_log", "end_before_start", "no_end"],
)
def test_bad_entry_ranges_are_400(api, auditor, chain, params):
    size = Entry.objects.count()
    assert error(api.get(f"{LOG}/entries", params(size), **auditor.auth)) == (400, "bad_request")


def test_entries_at_the_end_of_the_log_are_empty(api, auditor, chain):
    size = Entry.objects.count()
    response = api.get(f"{LOG}/entries", {"start": size, "end": size + 2}, **auditor.auth)
    assert response.json() == {"entries": []}
