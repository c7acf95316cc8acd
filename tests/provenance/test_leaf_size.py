"""Leaf size (contract §4 v1.2): a leaf input fits the tiles' 2-byte framing.

The rule (provenance.append.checks.check_leaf_size): an envelope is refused with
413 `payload_too_large` when its stored form plus the leaf input's fixed 52
bytes (the integrated time counted at 20 digits) exceeds 65,535 bytes.
"""

from __future__ import annotations

import json

import pytest

from cairn_core import dsse
from cairn_core.entries import leaf_input_text
from provenance.append.checks import LEAF_INPUT_OVERHEAD
from provenance.models import Entry
from tests.support import batch_body, ledger_snapshot, origin_payload, post_batch, results, sign_payload

pytestmark = pytest.mark.django_db
LIMIT = 65_535
LARGEST_STORED = LIMIT - LEAF_INPUT_OVERHEAD  # 65,483


def stored_length(body: bytes) -> int:
    return len(dsse.parse_envelope(body).stored_json())


def padded_envelope(ledger, party, batch: str, padding: int) -> bytes:
    """An origin whose payload JSON ends in `padding` spaces (still valid JSON)."""
    payload = json.dumps(origin_payload(ledger, party, batch=batch)).encode() + b" " * padding
    return sign_payload(payload, party)


def around_the_limit(ledger, party, batch: str) -> tuple[bytes, bytes]:
    """The largest envelope the rule accepts and one just over it (the
    stored payload's base64 grows 4 characters per 3 bytes)."""
    base = stored_length(padded_envelope(ledger, party, batch, 0))
    padding = (LARGEST_STORED - base) // 4 * 3
    while stored_length(padded_envelope(ledger, party, batch, padding + 1)) <= LARGEST_STORED:
        padding += 1
    under, over = (padded_envelope(ledger, party, batch, padding + extra) for extra in (0, 1))
    assert LARGEST_STORED - 4 < stored_length(under) <= LARGEST_STORED < stored_length(over) <= LARGEST_STORED + 4
    return under, over


def test_the_fixed_part_is_52_bytes():
    assert LEAF_INPUT_OVERHEAD == len(leaf_input_text("", -(2**63))) == 52


def test_one_envelope_just_under_is_accepted_and_one_just_over_refused(api, ledger, miner, settings):
    under, over = around_the_limit(ledger, miner, "pilbara-mining:big-1")
    assert len(over) <= settings.CAIRN_MAX_BODY_BYTES  # refused for its leaf, not its body
    before = ledger_snapshot()
    refused = api.post("/api/v1/attestations", data=over, content_type="application/json", **miner.auth)
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert "leaf input fits 65535 bytes" in refused.json()["error"]["message"]
    assert ledger_snapshot() == before
    accepted = api.post("/api/v1/attestations", data=under, content_type="application/json", **miner.auth)
    assert accepted.status_code == 201, accepted.content
    entry = Entry.objects.get(index=accepted.json()["index"])
    fixed = len('{"envelope":,"integrated_time":}')  # 32, and the time's digits
    assert len(entry.leaf_input.encode()) == stored_length(under) + fixed + len(str(entry.integrated_time)) <= LIMIT


def test_the_limit_holds_per_envelope_in_a_batch(api, ledger, miner):
    under, over = around_the_limit(ledger, miner, "pilbara-mining:big-2")
    size = Entry.objects.count()  # the persona's ledger entries (contract §12)
    answer = results(post_batch(api, miner, batch_body(over, under)))
    assert answer[0] == {
        "status": 413,
        "error": {"code": "payload_too_large", "message": answer[0]["error"]["message"]},
    }
    assert answer[1]["status"] == 201
    assert Entry.objects.count() == size + 1
    assert Entry.objects.get(index=size).entry_hash == dsse.parse_envelope(under).entry_hash
