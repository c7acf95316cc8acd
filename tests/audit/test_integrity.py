"""Integrity of a claim's DAG: a tampered entry breaks the verdict and names
its index; the batched Merkle fold agrees with RFC 9162."""

from __future__ import annotations

import base64
import random

from audit.claim_integrity import batch_nodes, batch_root
from cairn_core import merkle
from provenance.models import Entry
from tests.support import claim, raise_value, simple_chain, tamper_envelope, verdict_of

VIN = "5YJ3E1EA0PF000002"


def test_a_tampered_entry_breaks_integrity_and_zeroes_the_credit(ledger, miner, refiner, maker):
    pack = simple_chain(ledger, miner, refiner, maker)
    row = claim(ledger, maker, pack, VIN)
    assert verdict_of(row)["credit_usd"] == "7500"
    origin_index = Entry.objects.filter(type="origin").get().index
    tamper_envelope(origin_index, raise_value)
    verdict = verdict_of(row)
    assert verdict["integrity"] == "broken"
    assert verdict["credit_usd"] == "0"
    at_origin = {p["code"] for p in verdict["problems"] if p["index"] == origin_index}
    assert at_origin >= {"entry_hash", "leaf_hash", "bad_signature", "statement", "inclusion"}
    # The next entry on the ore's chain signed the original hash.
    transfer = origin_index + 1
    assert ("chain", transfer) in {(p["code"], p["index"]) for p in verdict["problems"]}
    # The requirements are still reported, from the (tampered) statements.
    assert verdict["requirements"]["critical_minerals"]["met"] is True


def test_a_changed_signature_byte_is_found(ledger, miner, refiner, maker):
    pack = simple_chain(ledger, miner, refiner, maker)
    row = claim(ledger, maker, pack, VIN)
    target = row.entry_id - 1  # the pack's assembly

    def flip(envelope):
        raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
        raw[0] ^= 1
        envelope["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()

    tamper_envelope(target, flip)
    verdict = verdict_of(row)
    assert verdict["integrity"] == "broken" and verdict["credit_usd"] == "0"
    assert {(p["code"], p["index"]) for p in verdict["problems"]} == {
        ("bad_signature", target),  # does not verify, so no valid issuer signature either
        ("issuer_signature", target),
        ("leaf_hash", target),
        ("inclusion", target),
    }


def test_the_same_tampering_gets_the_same_codes_from_the_ledger_check_and_the_verdict(ledger, miner, refiner, maker):
    from audit import integrity
    from provenance import tlog

    pack = simple_chain(ledger, miner, refiner, maker)
    row = claim(ledger, maker, pack, VIN)
    target = row.entry_id - 1
    verdict_of(row)  # a checkpoint over the intact log

    def flip(envelope):
        raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
        raw[0] ^= 1
        envelope["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()

    tamper_envelope(target, flip)
    by_verdict = {p["code"] for p in verdict_of(row)["problems"] if p["index"] == target}
    by_ledger = {p.code for p in integrity.check_range(0, tlog.current_size()) if p.index == target}
    assert by_verdict == by_ledger == {"leaf_hash", "bad_signature", "issuer_signature", "inclusion"}


def test_an_uncheckpointed_claim_is_not_intact(ledger, miner, refiner, maker):
    from agreements.snapshot import current_ruleset
    from audit.engine import evaluate_claim

    pack = simple_chain(ledger, miner, refiner, maker)
    verdict = evaluate_claim(claim(ledger, maker, pack, VIN), current_ruleset(), None).as_dict()
    assert verdict["integrity"] == "broken" and verdict["credit_usd"] == "0"
    assert verdict["problems"][0]["code"] == "inclusion"


def _stored_tree(leaves: list[bytes]) -> dict:
    """Every node a log stores for these leaves: level 0 and completed subtrees."""
    nodes = {(0, index): leaf for index, leaf in enumerate(leaves)}
    frontier: list[bytes] = []
    for size, leaf in enumerate(leaves):
        frontier, completed = merkle.append_to_frontier(frontier, size, leaf)
        nodes.update({(level, index): node for level, index, node in completed})
    return nodes


def test_batch_root_is_the_rfc_9162_root_for_any_subset():
    generator = random.Random(9162)
    for size in [1, 2, 3, 5, 8, 13, 64, 100, 257]:
        leaves = [merkle.leaf_hash(str(i).encode()) for i in range(size)]
        stored = _stored_tree(leaves)
        expected = merkle.fold([stored[node] for node in merkle.root_nodes(size)])
        for _ in range(5):
            targets = sorted(generator.sample(range(size), generator.randint(0, size)))
            needed = batch_nodes(size, targets)
            assert not needed & {(0, index) for index in targets}
            root = batch_root(size, {i: leaves[i] for i in targets}, {n: stored[n] for n in needed})
            assert root == expected
            if targets:
                wrong = {i: leaves[i] for i in targets} | {targets[0]: b"\0" * 32}
                assert batch_root(size, wrong, stored) != expected
