"""DSSE v1: PAE, entry_hash, strict envelope parsing, Ed25519."""

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core import dsse

PAYLOAD_TYPE = "application/vnd.cairn.attestation+json"


def test_pae_matches_the_dsse_spec_example():
    # From the DSSE protocol document: PAE("http://example.com/HelloWorld", "hello world")
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_entry_hash_is_sha256_of_pae():
    envelope = dsse.Envelope(PAYLOAD_TYPE, b'{"a":1}', ())
    expected = hashlib.sha256(b"DSSEv1 38 " + PAYLOAD_TYPE.encode() + b' 7 {"a":1}').hexdigest()
    assert envelope.entry_hash == expected


def test_sign_and_verify_round_trip():
    key = Ed25519PrivateKey.generate()
    raw = dsse.raw_public_key(key)
    envelope = dsse.sign(PAYLOAD_TYPE, b"payload", [(dsse.keyid_for(raw), key)])
    (signature,) = envelope.signatures
    assert signature.keyid == hashlib.sha256(raw).hexdigest()
    assert dsse.verify_signature(raw, envelope.pae, signature.sig)
    assert not dsse.verify_signature(raw, dsse.pae(PAYLOAD_TYPE, b"payloaD"), signature.sig)
    assert not dsse.verify_signature(raw, envelope.pae, signature.sig[:63])


def test_stored_form_normalises_base64_to_standard_alphabet_with_padding():
    payload = b"\xfb\xff\xfe?"  # encodes with + and / in standard base64
    urlsafe = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    body = json.dumps(
        {
            "payloadType": PAYLOAD_TYPE,
            "payload": urlsafe,
            "signatures": [{"keyid": "k", "sig": base64.b64encode(b"s" * 64).decode()}],
        }
    )
    envelope = dsse.parse_envelope(body.encode())
    assert envelope.payload == payload
    assert envelope.to_stored()["payload"] == base64.b64encode(payload).decode()
    assert envelope.stored_json().startswith('{"payload":"')


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"payloadType": PAYLOAD_TYPE, "payload": "e30="},
        {"payloadType": PAYLOAD_TYPE, "payload": "e30=", "signatures": []},
        {"payloadType": PAYLOAD_TYPE, "payload": "e30=", "signatures": [{"keyid": "k"}]},
        {"payloadType": PAYLOAD_TYPE, "payload": "e30=", "signatures": [{"keyid": "k", "sig": "!!"}]},
        {"payloadType": PAYLOAD_TYPE, "payload": "e30", "signatures": [{"keyid": "k", "sig": "AA=="}], "x": 1},
        {"payloadType": 7, "payload": "e30=", "signatures": [{"keyid": "k", "sig": "AA=="}]},
        {"payloadType": PAYLOAD_TYPE, "payload": "e3=", "signatures": [{"keyid": "k", "sig": "AA=="}]},
        {
            "payloadType": PAYLOAD_TYPE,
            "payload": "e30=",
            "signatures": [{"keyid": "k", "sig": "AA=="}, {"keyid": "k", "sig": "AQ=="}],
        },
    ],
    ids=[
        "not-object",
        "no-signatures-key",
        "empty-signatures",
        "sig-missing",
        "sig-not-base64",
        "extra-field",
        "type-not-string",
        "bad-padding-bits",
        "same-key-twice",
    ],
)
def test_malformed_envelopes_are_refused(document):
    with pytest.raises(dsse.EnvelopeError):
        dsse.parse_envelope(json.dumps(document).encode())


def test_duplicate_keys_in_envelope_json_are_refused():
    body = b'{"payloadType":"t","payloadType":"t","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}]}'
    with pytest.raises(dsse.EnvelopeError, match="duplicate"):
        dsse.parse_envelope(body)


@pytest.mark.parametrize("text", ["AA", "AA==", "_-8=", "_-8"])
def test_base64_accepts_both_alphabets_padded_or_not(text):
    assert dsse.b64encode(dsse.b64decode(text)) in {"AA==", "/+8="}


@pytest.mark.parametrize("text", ["A", "AB==", "AA=", "A===", "AA==AA==", " AA==", 5])
def test_base64_refuses_non_canonical_or_invalid_text(text):
    with pytest.raises(dsse.EnvelopeError):
        dsse.b64decode(text)
