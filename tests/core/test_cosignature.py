"""C2SP tlog-cosignature (Ed25519) and witness vkeys: cairn_core.cosignature."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cairn_core import cosignature, signed_note

BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
NAME = "witness.example.com/w1"


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def test_the_vkey_is_name_key_id_and_type_4_key(key: Ed25519PrivateKey) -> None:
    public_key = cosignature.public_key_of(key)
    text = cosignature.vkey(NAME, public_key)
    name, key_id, data = text.split("+", 2)
    assert name == NAME
    assert key_id == hashlib.sha256(NAME.encode() + b"\n\x04" + public_key).digest()[:4].hex()
    assert base64.b64decode(data) == b"\x04" + public_key
    assert cosignature.parse_vkey(text) == cosignature.WitnessKey(NAME, bytes.fromhex(key_id), public_key)


@pytest.mark.parametrize(
    "text",
    [
        "witness+00000000+BA==",  # a key of 0 bytes
        "nameonly",
        # a log's verifier (type 0x01) is not a witness vkey
        signed_note.verifier_string("log.example", bytes(32)),
    ],
)
def test_bad_vkeys_are_refused(text: str) -> None:
    with pytest.raises(signed_note.NoteError):
        cosignature.parse_vkey(text)


def test_a_wrong_key_id_is_refused(key: Ed25519PrivateKey) -> None:
    name, _key_id, data = cosignature.vkey(NAME, cosignature.public_key_of(key)).split("+", 2)
    with pytest.raises(signed_note.NoteError, match="key ID"):
        cosignature.parse_vkey(f"{name}+00000000+{data}")


def test_a_cosignature_signs_header_time_and_body(key: Ed25519PrivateKey) -> None:
    line = cosignature.cosign(BODY, NAME, key, timestamp=1679315147)
    name, encoded = line.removeprefix("\u2014 ").split(" ")
    raw = base64.b64decode(encoded)
    assert name == NAME and len(raw) == 76
    assert struct.unpack(">Q", raw[4:12]) == (1679315147,)
    signed = b"cosignature/v1\ntime 1679315147\n" + BODY.encode()
    key.public_key().verify(raw[12:], signed)  # raises if not
    assert isinstance(key.public_key(), Ed25519PublicKey)
    witness = cosignature.parse_vkey(cosignature.vkey(NAME, cosignature.public_key_of(key)))
    assert cosignature.verify_line(line, BODY, witness).timestamp == 1679315147


def test_another_body_or_a_flipped_byte_does_not_verify(key: Ed25519PrivateKey) -> None:
    witness = cosignature.parse_vkey(cosignature.vkey(NAME, cosignature.public_key_of(key)))
    line = cosignature.cosign(BODY, NAME, key, timestamp=5)
    with pytest.raises(signed_note.NoteError, match="does not verify"):
        cosignature.verify_line(line, BODY.replace("20852163", "20852164"), witness)
    name, encoded = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[11] ^= 1  # the timestamp is signed too
    with pytest.raises(signed_note.NoteError, match="does not verify"):
        cosignature.verify_line(f"{name} {base64.b64encode(bytes(raw)).decode()}", BODY, witness)


def test_verified_keeps_only_lines_by_given_witnesses_that_verify(key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    mine = cosignature.parse_vkey(cosignature.vkey(NAME, cosignature.public_key_of(key)))
    stranger_line = cosignature.cosign(BODY, "stranger.example", other)
    forged = cosignature.cosign(BODY, NAME, other)  # the right name, another key
    good = cosignature.cosign(BODY, NAME, key)
    found = cosignature.verified(BODY, [stranger_line, forged, good], [mine])
    assert list(found) == [str(mine)] and found[str(mine)].line == good
    assert cosignature.verified(BODY, [stranger_line, forged], [mine]) == {}


def test_the_log_signed_note_is_split_from_its_cosignatures(key: Ed25519PrivateKey) -> None:
    log_key = Ed25519PrivateKey.generate()
    note = signed_note.sign_note(BODY, "example.com/behind-the-sofa", log_key)
    line = cosignature.cosign(BODY, NAME, key)
    alone, lines = cosignature.split_cosigned(note + line + "\n", "example.com/behind-the-sofa")
    assert alone == note and lines == [line]
    with pytest.raises(signed_note.NoteError, match="first signature line"):
        cosignature.split_cosigned(BODY + "\n" + line + "\n", "example.com/behind-the-sofa")
