"""The contract's formulas against the vectors of tests/vectors, which Go's
reference program (tests/go/reference) checks too: the core's one
definition of each gives the expected bytes, and refuses what strict JSON
refuses."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import nacl.signing
import pytest

from cairn_core import dsse, merkle
from cairn_core.entries import leaf_input_text, stored_leaf_input
from cairn_core.payload import PayloadError, strict_json

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


ENTRIES = load("entries.json")["cases"]
MERKLE = load("merkle.json")
STRICT = load("strict_json.json")["cases"]


@pytest.mark.parametrize("case", ENTRIES, ids=[case["name"] for case in ENTRIES])
def test_an_entrys_hashes_are_the_vectors(case):
    payload = base64.b64decode(case["payload"])
    envelope = dsse.parse_envelope(case["envelope"].encode())
    assert dsse.pae(case["payload_type"], payload).hex() == case["pae"]
    assert dsse.entry_hash_of(bytes.fromhex(case["pae"])) == case["entry_hash"]
    assert envelope.entry_hash == case["entry_hash"]
    assert envelope.stored_json() == case["envelope"]
    assert leaf_input_text(case["envelope"], case["integrated_time"]) == case["leaf_input"]
    assert merkle.leaf_hash(stored_leaf_input(case["envelope"], case["integrated_time"])).hex() == case["leaf_hash"]
    public_keys = [base64.b64decode(key) for key in case["public_keys"]]
    assert [dsse.keyid_for(key) for key in public_keys] == case["keyids"]
    for key, signature in zip(public_keys, envelope.signatures, strict=True):
        nacl.signing.VerifyKey(key).verify(envelope.pae, signature.sig)


def test_tree_heads_are_the_vectors():
    leaves = [merkle.leaf_hash(bytes.fromhex(leaf)) for leaf in MERKLE["leaves"]]
    assert merkle.EMPTY_ROOT.hex() == MERKLE["roots"][0]["root"]
    frontier: list[bytes] = []
    for size, expected in enumerate(MERKLE["roots"][1:], start=1):
        frontier, _ = merkle.append_to_frontier(frontier, size - 1, leaves[size - 1])
        assert expected["size"] == size
        assert merkle.root_from_frontier(frontier).hex() == expected["root"], size


@pytest.mark.parametrize("case", STRICT, ids=[case["why"] for case in STRICT])
def test_strict_json_takes_and_refuses_as_the_vectors_say(case):
    data = case["text"].encode("utf-8")
    if case["strict"]:
        assert strict_json(data) == json.loads(case["text"])
    else:
        with pytest.raises(PayloadError):
            strict_json(data)


def test_a_changed_vector_fails():
    """The checks above compare values: a vector with one hex digit changed
    is not met."""
    case = dict(ENTRIES[0], leaf_hash="0" * 64)
    with pytest.raises(AssertionError):
        test_an_entrys_hashes_are_the_vectors(case)
