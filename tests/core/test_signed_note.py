"""cairn_core.signed_note against C2SP signed-note and tlog-checkpoint.

The PeterNeumann vector is golang.org/x/mod/sumdb/note's published example:
an independent implementation's key, key hash and signature.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core import signed_note
from cairn_core.signed_note import NoteError

GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
    "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# transparency-dev/formats: a verifier whose base64 key contains '+'.
PLUS_VERIFIER = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"


def go_private_key() -> Ed25519PrivateKey:
    seed = base64.b64decode(GO_SIGNER.split("+", 4)[4])[1:]
    return Ed25519PrivateKey.from_private_bytes(seed)


def test_go_verifier_parses_and_its_key_hash_checks():
    verifier = signed_note.parse_verifier(GO_VERIFIER)
    assert verifier.name == "PeterNeumann"
    assert verifier.key_hash.hex() == "c74f20a3"
    assert str(verifier) == GO_VERIFIER
    assert signed_note.parse_verifier(PLUS_VERIFIER).key_hash.hex() == "7997405c"


def test_signing_reproduces_the_go_note_byte_for_byte():
    assert signed_note.sign_note(GO_TEXT, "PeterNeumann", go_private_key()) == GO_NOTE


def test_open_note_returns_the_body_of_the_go_note():
    assert signed_note.open_note(GO_NOTE, signed_note.parse_verifier(GO_VERIFIER)) == GO_TEXT


@pytest.mark.parametrize(
    "verifier",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong hash
        "PeterNeumanN+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # other name
        "PeterNeumann+c74f20a3+AhpcQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not Ed25519
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_bad_verifiers_are_refused(verifier):
    with pytest.raises(NoteError):
        signed_note.parse_verifier(verifier)


def test_tampered_or_foreign_notes_are_refused():
    verifier = signed_note.parse_verifier(GO_VERIFIER)
    with pytest.raises(NoteError, match="does not verify"):
        signed_note.open_note(GO_NOTE.replace("cryptography", "cryptographY"), verifier)
    other = Ed25519PrivateKey.generate()
    with pytest.raises(NoteError, match="no signature by PeterNeumann"):
        signed_note.open_note(signed_note.sign_note(GO_TEXT, "Someone", other), verifier)
    with pytest.raises(NoteError):
        signed_note.open_note(GO_TEXT, verifier)


def test_checkpoint_round_trip_and_exact_format():
    key = go_private_key()
    root = hashlib.sha256(b"").digest()
    note = signed_note.sign_checkpoint("example.com/log", 0, root, key)
    body, signature_line = note.split("\n\n")
    assert body + "\n" == "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    public_key = signed_note.parse_verifier(GO_VERIFIER).public_key
    key_hash = hashlib.sha256(b"example.com/log\n\x01" + public_key).digest()[:4]
    name, encoded = signature_line.rstrip("\n").removeprefix("\u2014 ").split(" ")
    assert name == "example.com/log"
    assert base64.b64decode(encoded)[:4] == key_hash
    verifier = signed_note.parse_verifier(signed_note.verifier_string("example.com/log", public_key))
    checkpoint = signed_note.open_checkpoint(note, verifier)
    assert checkpoint == signed_note.Checkpoint("example.com/log", 0, root)


def test_checkpoint_origin_must_match_the_verifier():
    key = go_private_key()
    public_key = signed_note.parse_verifier(GO_VERIFIER).public_key
    note = signed_note.sign_note(signed_note.checkpoint_body("other.example/log", 5, bytes(32)), "example.com/log", key)
    verifier = signed_note.parse_verifier(signed_note.verifier_string("example.com/log", public_key))
    with pytest.raises(NoteError, match="origin"):
        signed_note.open_checkpoint(note, verifier)
