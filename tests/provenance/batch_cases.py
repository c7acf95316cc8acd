"""Every refusal of contract §6, for the middle envelope of a batch of three:
each case builds its envelope from the `world` fixture (tests/provenance/conftest.py).
Shared by the batch endpoint's tests and the validate endpoint's."""

import base64
import datetime as dt
import json

from cairn_core import dsse
from provenance.keys import revoke_key
from tests.support import Ledger, origin_payload, sign_payload


def entry_hash_of(envelope: bytes) -> str:
    return dsse.parse_envelope(envelope).entry_hash


def first_payload(ledger, miner):
    return origin_payload(ledger, miner, batch="pilbara-mining:first")


def _resigned(envelope: bytes, field: str, value) -> bytes:
    document = json.loads(envelope)
    document["signatures"][0][field] = value
    return json.dumps(document).encode()


def flipped_signature(envelope: bytes) -> bytes:
    sig = bytearray(base64.b64decode(json.loads(envelope)["signatures"][0]["sig"]))
    sig[0] ^= 1
    return _resigned(envelope, "sig", base64.b64encode(bytes(sig)).decode())


def _revoked_key_envelope(ledger, miner, refiner, world):
    private_key, keyid = miner.new_key()
    revoke_key(organization=miner.org, keyid=keyid)
    raw = json.dumps(origin_payload(ledger, miner, batch="pilbara-mining:r")).encode()
    envelope = dsse.sign("application/vnd.cairn.attestation+json", raw, [(keyid, private_key)])
    return json.dumps(envelope.to_stored()).encode()


def _statement(kind, **fields):
    def build(ledger, miner, refiner, world):
        resolved = {key: world[value[1:]] if isinstance(value, str) and value.startswith("@") else value
                    for key, value in fields.items()}  # fmt: skip
        if "prev" in resolved and resolved["prev"] is None:
            resolved["prev"] = ledger.head(resolved["batch"])
        return sign_payload(ledger.statement(kind, miner, **resolved), miner)

    return build


def _overdraw(ledger, miner, refiner, world):
    ore = world["ore"]
    payload = ledger.statement(
        "transform",
        miner,
        activity="processing",
        site={"name": "p", "country": "AU"},
        inputs=[{"batch": ore, "prev": ledger.head(ore), "quantity": "11"}],
        outputs=[{"batch": "pilbara-mining:c", "material": "m", "quantity": "1", "unit": "kg", "value_added_usd": "1"}],
    )
    return sign_payload(payload, miner)


def _origin(batch: str, transform=lambda envelope: envelope, signers=("miner",), issuer="miner", **fields):
    """A builder of a signed origin of `batch`, changed by `transform`."""

    def build(ledger, miner, refiner, world):
        parties = {"miner": miner, "refiner": refiner}
        payload = origin_payload(ledger, parties[issuer], batch=batch, **fields)
        return transform(sign_payload(payload, *(parties[name] for name in signers)))

    return build


def _raw(body: bytes):
    return lambda *_: body


def _duplicate_key(envelope: bytes) -> bytes:
    return envelope[:-1] + b', "payload": "e30="}'


def _first_again_cosigned(ledger, miner, refiner, world):
    """The first envelope of the batch again, with one more signature."""
    return sign_payload(first_payload(ledger, miner), miner, refiner)


def _skewed(ledger, miner, refiner, world):
    old = Ledger(now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    return sign_payload(origin_payload(old, miner, batch="pilbara-mining:old"), miner)


_CLAIM = {
    "quantity": "1",
    "vin": "5YJ3E1EA7KF317000",
    "acquired": "2024-01-02",
    "placed_in_service": "2024-01-03",
    "final_assembly": {"name": "a", "country": "US"},
}
_OTHER_TYPE = b'{"payloadType": "application/json", "payload": "e30=", "signatures": [{"keyid": "k", "sig": "AA=="}]}'

REFUSALS = {
    "payload_too_large": (413, _raw(b"{" + b" " * (64 * 1024) + b"}")),
    "malformed_envelope": (400, _raw(b'{"payloadType": "x", "payload": "e30="}')),
    "malformed_envelope-duplicate-key": (400, _origin("pilbara-mining:d", _duplicate_key)),
    "malformed_envelope-not-an-object": (400, _raw(b'"an envelope"')),
    "unsupported_payload_type": (400, _raw(_OTHER_TYPE)),
    "invalid_payload": (400, _origin("pilbara-mining:i", color="blue")),
    "unknown_key": (400, _origin("pilbara-mining:u", lambda e: _resigned(e, "keyid", "0" * 64))),
    "bad_signature": (400, _origin("pilbara-mining:s", flipped_signature)),
    "key_not_valid": (403, _revoked_key_envelope),
    "duplicate_statement": (409, _first_again_cosigned),
    "issuer_mismatch": (403, _origin("kansai-refining:x", issuer="refiner", signers=("refiner",))),
    "role_not_allowed": (403, _statement("claim", batch="@ore", prev=None, **_CLAIM)),
    "forbidden": (403, _origin("kansai-refining:ore-1")),
    "unknown_batch": (404, _statement("transfer", batch="pilbara-mining:ghost", prev="a" * 64, to="kansai-refining")),
    "batch_exists": (409, _origin("pilbara-mining:ore")),
    "not_custodian": (403, _statement("transfer", batch="@given", prev=None, to="kansai-refining")),
    "stale_head": (409, _statement("transfer", batch="@ore", prev="b" * 64, to="kansai-refining")),
    "overdraw": (422, _overdraw),
    "clock_skew": (400, _skewed),
}
