"""A §30D verdict and its bundle over a DAG that also holds §45X statements:
an input's supplier certification (on its chain), costs on a transform, a sale."""

from __future__ import annotations

import json

import pytest

from audit import bundle
from audit.engine import verify_claim
from cairn_core import bundle as bundles
from cairn_core import signed_note
from cairn_core.regimes.s30d import bundle as bundle_30d
from provenance import checkpoints, ledger_key

pytestmark = pytest.mark.django_db
VIN = "5YJ3E1EA0PF045001"


def test_a_claim_whose_dag_holds_s45x_statements_verifies_as_before(ledger, miner, refiner, maker, auditor):
    ore = ledger.origin(miner, minerals={"lithium": "60"}, quantity="1000", country="AU")
    ledger.transfer(miner, ore, refiner)
    (hydroxide,) = ledger.transform(
        refiner, [(ore, "1000")], [{"quantity": "100", "value_added_usd": "900"}], country="JP"
    )
    ledger.transfer(refiner, hydroxide, maker)
    ledger.supplier_certification(refiner, hydroxide, maker)
    cells_payload = ledger.statement(
        "transform",
        maker,
        activity="manufacturing",
        site={"name": "Detroit cell plant", "country": "US"},
        inputs=[
            {"batch": hydroxide, "prev": ledger.head(hydroxide), "quantity": "100", "direct_material_cost_usd": "90"}
        ],
        outputs=[
            {
                "batch": "detroit-cells:cells-45x",
                "material": "cells",
                "quantity": "10",
                "unit": "unit",
                "value_added_usd": "5000",
                "component": "battery_cell",
            }
        ],
    )
    ledger.post(maker, cells_payload)
    (pack,) = ledger.transform(
        maker,
        [("detroit-cells:cells-45x", "10")],
        [{"quantity": "2", "unit": "unit", "component": "battery_pack", "value_added_usd": "2000"}],
        activity="assembly",
    )
    ledger.sale(maker, pack, "1")
    ledger.claim(maker, pack, VIN)
    checkpoints.publish_checkpoint()

    verification = verify_claim(VIN, requested_by=auditor.user)
    assert verification.integrity == "intact", verification.verdict["integrity"]
    document = json.loads(json.dumps(bundle.build_bundle(verification)))
    result = bundle_30d.verify(document, log_key=signed_note.parse_verifier(ledger_key.current().verifier))
    assert result.status == bundles.PASSED, [failure.line for failure in result.failures]
