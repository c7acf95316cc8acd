"""cairn_core.tlog_proof: C2SP tlog-proof@v1, against the spec's grammar and the
tests' own RFC 9162 reference (tests/core/test_merkle.py)."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core import dsse, signed_note, tlog_proof
from cairn_core.tlog_proof import ProofError
from tests.support import LEAVES, ref_leaf, ref_mth, ref_path

ORIGIN = "example.test/log"
KEY = Ed25519PrivateKey.generate()
VERIFIER = signed_note.parse_verifier(signed_note.verifier_string(ORIGIN, dsse.raw_public_key(KEY)))

# The spec's format (c2sp.org/tlog-proof), as one expression: the header, an
# optional extra line, the index without leading zeroes, zero or more base64
# SHA-256 hashes, an empty line, then a signed checkpoint verbatim.
GRAMMAR = re.compile(
    r"\Ac2sp\.org/tlog-proof@v1\n"
    r"(extra [A-Za-z0-9+/]+={0,2}\n)?"
    r"index (0|[1-9][0-9]*)\n"
    r"([A-Za-z0-9+/]{43}=\n)*"
    r"\n"
    r"[^\n]+\n(0|[1-9][0-9]*)\n[A-Za-z0-9+/]{43}=\n"
    r"\n"
    r"(\u2014 [^ \n]+ [A-Za-z0-9+/]+={0,2}\n)+\Z"
)

# The example of the spec itself (signatures elided there, so not verifiable).
SPEC_EXAMPLE = """c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

\u2014 example.com/fancylog hI2DJw1roloI=
"""


def checkpoint(size: int) -> str:
    return signed_note.sign_checkpoint(ORIGIN, size, ref_mth(LEAVES[:size]), KEY)


def reference_proof(index: int, size: int) -> str:
    return tlog_proof.format_proof(index, ref_path(index, LEAVES[:size]), checkpoint(size))


def test_the_spec_example_parses():
    proof = tlog_proof.parse_proof(SPEC_EXAMPLE)
    assert proof.index == 73894
    assert len(proof.hashes) == 5 and proof.hashes[0] == base64.b64decode(
        "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ="
    )
    assert proof.extra == base64.b64decode("YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ")
    assert proof.checkpoint.startswith("example.com/fancylog\n109482\n")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 13, 64])
def test_every_proof_matches_the_grammar_and_verifies_against_the_reference(size):
    for index in range(size):
        text = reference_proof(index, size)
        assert GRAMMAR.match(text), text
        assert text.splitlines()[1] == f"index {index}"
        proof = tlog_proof.parse_proof(text)
        assert proof.extra is None and list(proof.hashes) == ref_path(index, LEAVES[:size])
        verified = tlog_proof.verify_proof(proof, ref_leaf(LEAVES[index]), VERIFIER)
        assert (verified.tree_size, verified.root_hash) == (size, ref_mth(LEAVES[:size]))


def test_a_single_leaf_tree_has_no_hash_lines():
    text = reference_proof(0, 1)
    assert text.startswith("c2sp.org/tlog-proof@v1\nindex 0\n\nexample.test/log\n1\n")


def test_a_changed_hash_or_leaf_does_not_verify():
    proof = tlog_proof.parse_proof(reference_proof(5, 13))
    with pytest.raises(ProofError, match="does not lead to the root"):
        tlog_proof.verify_proof(proof, ref_leaf(b"another leaf"), VERIFIER)
    flipped = (bytes([proof.hashes[0][0] ^ 1]) + proof.hashes[0][1:], *proof.hashes[1:])
    with pytest.raises(ProofError, match="does not lead to the root"):
        tlog_proof.verify_proof(tlog_proof.TlogProof(5, flipped, proof.checkpoint), ref_leaf(LEAVES[5]), VERIFIER)
    with pytest.raises(ProofError, match="too short"):
        tlog_proof.verify_proof(
            tlog_proof.TlogProof(5, proof.hashes[:-1], proof.checkpoint), ref_leaf(LEAVES[5]), VERIFIER
        )


def test_a_checkpoint_by_another_key_does_not_verify():
    other = signed_note.sign_checkpoint(ORIGIN, 13, ref_mth(LEAVES[:13]), Ed25519PrivateKey.generate())
    proof = tlog_proof.TlogProof(5, tuple(ref_path(5, LEAVES[:13])), other)
    with pytest.raises(ProofError, match="checkpoint"):
        tlog_proof.verify_proof(proof, ref_leaf(LEAVES[5]), VERIFIER)


def test_an_index_beyond_the_tree_is_refused():
    proof = tlog_proof.TlogProof(13, (), checkpoint(13))
    with pytest.raises(ProofError, match="beyond"):
        tlog_proof.verify_proof(proof, ref_leaf(LEAVES[0]), VERIFIER)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("c2sp.org/tlog-proof@v2\nindex 0\n\nx\n", "first line"),
        ("c2sp.org/tlog-proof@v1\nindex 01\n\nx\n", "index"),
        ("c2sp.org/tlog-proof@v1\nindex -1\n\nx\n", "index"),
        ("c2sp.org/tlog-proof@v1\n\nx\n", "index"),
        ("c2sp.org/tlog-proof@v1\nindex 3\nnot-a-hash\n\nx\n", "line 3"),
        ("c2sp.org/tlog-proof@v1\nindex 3\n" + "A" * 43 + "=\n", "empty line"),
        ("c2sp.org/tlog-proof@v1\r\nindex 3\r\n\r\nx\r\n", "empty line"),
        ("c2sp.org/tlog-proof@v1\nextra !!\nindex 3\n\nx\n", "extra"),
    ],
)
def test_malformed_proofs_are_named(text, error):
    with pytest.raises(ProofError, match=error):
        tlog_proof.parse_proof(text)


def test_format_refuses_what_the_format_cannot_say():
    with pytest.raises(ProofError):
        tlog_proof.format_proof(-1, [], checkpoint(1))
    with pytest.raises(ProofError):
        tlog_proof.format_proof(0, [b"short"], checkpoint(1))
