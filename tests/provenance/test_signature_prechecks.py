"""Signatures are checked by the request's thread, before the serial
section; the append uses such an outcome only for the public key it finds
under the lock, and checks the signature itself otherwise."""

import base64
import dataclasses
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core import dsse
from provenance.append import checks
from provenance.errors import LedgerError
from provenance.models import Entry
from tests.support import origin_payload, sign_payload


def flipped(body: bytes) -> bytes:
    document = json.loads(body)
    sig = bytearray(base64.b64decode(document["signatures"][0]["sig"]))
    sig[0] ^= 1
    document["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    return json.dumps(document).encode()


def test_the_request_thread_checks_each_signature_against_the_key(ledger, miner):
    good = checks.prepare(sign_payload(origin_payload(ledger, miner), miner), acting_org=miner.org)
    bad = checks.prepare(flipped(sign_payload(origin_payload(ledger, miner), miner)), acting_org=miner.org)
    public_key = dsse.raw_public_key(miner.private_key)
    assert good.verified == ((miner.keyid, public_key, True),)
    assert bad.verified == ((miner.keyid, public_key, False),)
    assert good.stored == good.envelope.stored_json()
    (refused,) = checks.append_batch([bad])
    assert isinstance(refused, LedgerError) and refused.code == "bad_signature"


def test_an_outcome_for_another_public_key_is_not_trusted(ledger, miner):
    size = Entry.objects.count()  # the persona's ledger entries (contract §12)
    bad = checks.prepare(flipped(sign_payload(origin_payload(ledger, miner), miner)), acting_org=miner.org)
    other = dsse.raw_public_key(Ed25519PrivateKey.generate())
    forged = dataclasses.replace(bad, verified=((miner.keyid, other, True),))
    (refused,) = checks.append_batch([forged])
    assert isinstance(refused, LedgerError) and refused.code == "bad_signature"
    unchecked = dataclasses.replace(
        checks.prepare(sign_payload(origin_payload(ledger, miner), miner), acting_org=miner.org), verified=()
    )
    (accepted,) = checks.append_batch([unchecked])
    assert accepted.status == 201 and Entry.objects.count() == size + 1


def test_a_key_registered_after_a_miss_is_found(ledger, miner):
    private_key = Ed25519PrivateKey.generate()
    keyid = dsse.keyid_for(dsse.raw_public_key(private_key))
    raw = json.dumps(origin_payload(ledger, miner)).encode()
    body = json.dumps(dsse.sign("application/vnd.cairn.attestation+json", raw, [(keyid, private_key)]).to_stored())
    early = checks.prepare(body.encode(), acting_org=miner.org)
    assert early.verified == ()  # not registered yet: nothing remembered
    from provenance.keys import register_key

    register_key(organization=miner.org, public_key_b64=dsse.b64encode(dsse.raw_public_key(private_key)))
    assert checks.prepare(body.encode(), acting_org=miner.org).verified[0][2] is True
