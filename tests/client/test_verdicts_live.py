"""`cairn verdicts`: every verdict in the log, read and checked by the client
from a live Cairn (an auditor's token), with disagreements named."""

from __future__ import annotations

import pytest

from audit.engine import verdict_fields, verify_claim
from provenance import checkpoints, ledger_entries
from tests.support import Ledger, claim, make_party, simple_chain

# serialized_rollback restores the reference data that the flush after each live-server test removes.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
VIN = "5YJ3E1EA0PF000902"


@pytest.fixture
def verified_claim():
    miner = make_party("pilbara-mining", ["supplier"], country="AU")
    refiner = make_party("kansai-refining", ["supplier"], country="JP")
    maker = make_party("detroit-cells", ["manufacturer"])
    ledger = Ledger()
    claim(ledger, maker, simple_chain(ledger, miner, refiner, maker), VIN)
    return verify_claim(VIN, requested_by=None)


def test_the_client_lists_the_logs_verdicts_and_names_a_disagreement(organization, verified_claim):
    examiner = organization("state-examiner", "auditor", country="US")
    checkpoints.publish_checkpoint()
    listed = examiner.cairn_json("verdicts", "--vin", VIN)
    (row,) = listed["verdicts"]
    assert (row["verification"], row["credit_usd"], row["integrity"]) == (
        verified_claim.pk,
        verified_claim.credit_usd,
        "intact",
    )
    assert row["pack"] == verified_claim.claim.batch_id
    assert listed["disagreements"] == [] and listed["problems"] == []
    # Another verdict on the VIN, with another credit and no rules entry between.
    forged = {**verdict_fields(verified_claim), "verification": verified_claim.pk + 50, "credit_usd": "0"}
    entry = ledger_entries.append("verdict", forged)
    checkpoints.publish_checkpoint()
    result = examiner.cairn("verdicts", "--vin", VIN, expect=1)
    assert f"DISAGREE: VIN {VIN}: verification {verified_claim.pk}" in result.stdout
    assert f"(entry #{entry.index}, $0)" in result.stdout


def test_a_log_key_other_than_the_logs_is_refused(organization, verified_claim):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cairn_core import dsse, signed_note

    examiner = organization("state-examiner", "auditor", country="US")
    checkpoints.publish_checkpoint()
    other = signed_note.verifier_string("cairn.test/ledger", dsse.raw_public_key(Ed25519PrivateKey.generate()))
    result = examiner.cairn("verdicts", "--log-key", other, expect=1)
    assert "does not verify" in result.stderr
