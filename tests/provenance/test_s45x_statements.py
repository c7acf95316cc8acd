"""The §45X statements on the write path (docs/contract-45x.md): a transform
input's direct material cost, a supplier's certification, a sale; their
refusals with the contract's codes and nothing stored; who reads the costs."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from audit import sweep
from audit.integrity import check_range
from provenance import epcis, selectors
from provenance.models import Batch, BatchLink, Entry
from tests.support import assert_refused, sign_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def cathode(ledger, refiner, maker):
    """Cathode material made by the refiner (JP) and passed to the cell maker."""
    batch = ledger.origin(refiner, batch="kansai-refining:cam-1", quantity="100", country="JP")
    ledger.transfer(refiner, batch, maker)
    return batch


def transform_payload(ledger, maker, cathode, cost: object = "40.00") -> dict:
    inputs = [{"batch": cathode, "prev": ledger.head(cathode), "quantity": "60"}]
    if cost is not None:
        inputs[0]["direct_material_cost_usd"] = cost
    return ledger.statement(
        "transform",
        maker,
        activity="manufacturing",
        site={"name": "Detroit cell plant", "country": "US"},
        inputs=inputs,
        outputs=[
            {
                "batch": "detroit-cells:cells-1",
                "material": "NMC cells",
                "quantity": "500",
                "unit": "unit",
                "value_added_usd": "100",
                "component": "battery_cell",
            }
        ],
    )


@pytest.fixture
def cells(ledger, maker, cathode):
    ledger.post(maker, transform_payload(ledger, maker, cathode))
    return "detroit-cells:cells-1"


def test_a_transform_input_carries_its_direct_material_cost(cells, cathode):
    entry = Batch.objects.get(id=cells).created_by
    assert entry.statement["inputs"][0]["direct_material_cost_usd"] == "40.00"
    link = BatchLink.objects.get(entry=entry, batch_id=cathode)
    assert (link.role, link.quantity) == ("consumed", Decimal("60"))


@pytest.mark.parametrize("cost", ["-1", "1e3", 12.5, "", "1.0000000001"])
def test_a_bad_direct_material_cost_is_refused_and_nothing_stored(api, ledger, maker, cathode, cost):
    body = sign_payload(transform_payload(ledger, maker, cathode, cost), maker)
    error = assert_refused(api, maker, body, "invalid_payload", 400)
    assert "direct_material_cost_usd" in error["message"] or "decimal amounts are strings" in error["message"]


def test_a_cost_on_an_origin_or_a_transfer_is_an_unknown_field(api, ledger, miner, maker, cathode):
    origin = ledger.origin_statement(miner, batch="pilbara-mining:ore-cost")
    origin["outputs"][0]["direct_material_cost_usd"] = "10"
    assert_refused(api, miner, sign_payload(origin, miner), "invalid_payload", 400)
    origin = ledger.origin_statement(miner, batch="pilbara-mining:ore-cost")
    origin["direct_material_cost_usd"] = "10"
    assert_refused(api, miner, sign_payload(origin, miner), "invalid_payload", 400)
    transfer = ledger.statement(
        "transfer", maker, batch=cathode, prev=ledger.head(cathode), to=miner.slug, direct_material_cost_usd="1"
    )
    assert_refused(api, maker, sign_payload(transfer, maker), "invalid_payload", 400)


def test_a_supplier_certification_moves_the_head_and_nothing_else(ledger, refiner, maker, cells, cathode):
    before = Batch.objects.get(id=cathode)
    receipt = ledger.supplier_certification(refiner, cathode, maker)
    after = Batch.objects.get(id=cathode)
    assert after.head == receipt.receipt.entry_hash != before.head
    assert (after.custodian_id, after.consumed) == (before.custodian_id, before.consumed) == ("detroit-cells", 60)
    link = BatchLink.objects.get(entry_id=receipt.receipt.index)
    assert (link.role, link.prev, link.quantity) == ("supplier_certified", before.head, None)
    entry = Entry.objects.get(index=receipt.receipt.index)
    assert entry.type == "supplier_certification" and entry.statement["taxpayer"] == "detroit-cells"
    assert {"kansai-refining", "detroit-cells"} <= selectors.orgs_named_by(entry)
    revoked = ledger.supplier_certification(refiner, cathode, maker, status="revoked")
    assert Entry.objects.get(index=revoked.receipt.index).statement["status"] == "revoked"


def test_a_supplier_certification_for_an_unknown_taxpayer_is_refused(api, ledger, refiner, maker, cells, cathode):
    payload = ledger.supplier_certification_statement(refiner, cathode, maker)
    payload["taxpayer"] = "nobody-here"
    error = assert_refused(api, refiner, sign_payload(payload, refiner, maker), "invalid_payload", 400)
    assert "taxpayer" in error["message"]


def test_a_supplier_certification_needs_the_custodians_co_signature(api, ledger, refiner, maker, cells, cathode):
    payload = ledger.supplier_certification_statement(refiner, cathode, maker)
    assert_refused(api, refiner, sign_payload(payload, refiner), "not_custodian", 403)


def test_a_supplier_certification_comes_from_one_that_held_the_batch(api, ledger, miner, maker, cathode):
    """The custodian's co-signature does not let an organisation that never held
    the batch certify it: the batch does not exist for it, as for any statement."""
    payload = ledger.supplier_certification_statement(miner, cathode, maker)
    assert_refused(api, miner, sign_payload(payload, miner, maker), "unknown_batch", 404)


def test_a_sale_consumes_its_quantity_and_keeps_custody(ledger, maker, cells):
    receipt = ledger.sale(maker, cells, "200", binding_contract_on="2025-06-01")
    batch = Batch.objects.get(id=cells)
    assert (batch.consumed, batch.custodian_id, batch.head) == (200, "detroit-cells", receipt.receipt.entry_hash)
    link = BatchLink.objects.get(entry_id=receipt.receipt.index)
    assert (link.role, link.quantity, link.custodian_after_id) == ("sold", Decimal("200"), "detroit-cells")
    assert Entry.objects.get(index=receipt.receipt.index).statement["binding_contract_on"] == "2025-06-01"


def test_a_sale_beyond_what_the_batch_has_left_is_refused(api, ledger, maker, cells):
    ledger.sale(maker, cells, "400")
    payload = ledger.statement(
        "sale",
        maker,
        batch=cells,
        prev=ledger.head(cells),
        quantity="100.000000001",
        sold_on="2026-12-01",
        buyer={"name": "Lakeshore Pack Assembly", "country": "US"},
    )
    assert_refused(api, maker, sign_payload(payload, maker), "overdraw", 422)


def test_only_the_custodian_sells(api, ledger, refiner, maker, cells, cathode):
    payload = ledger.statement(
        "sale",
        refiner,
        batch=cathode,
        prev=ledger.head(cathode),
        quantity="1",
        sold_on="2026-12-01",
        buyer={"name": "Someone", "country": "KR"},
    )
    assert_refused(api, refiner, sign_payload(payload, refiner), "not_custodian", 403)


def test_the_ledger_checks_replay_the_new_statements(ledger, refiner, maker, cells, cathode):
    ledger.supplier_certification(refiner, cathode, maker)
    ledger.sale(maker, cells, "500")
    assert check_range(0, Entry.objects.count()) == []
    assert sweep.moved_batches() == []


def test_the_epcis_export_shows_no_cost_taxpayer_id_or_buyer(ledger, refiner, maker, cells, cathode):
    ledger.supplier_certification(refiner, cathode, maker)
    ledger.sale(maker, cells, "10")
    text = epcis.export_text(Batch.objects.get(id=cells))
    for secret in ("direct_material_cost", "40.00", "124-81-55673", "Lakeshore Pack Assembly"):
        assert secret not in text, secret
    exported = {event["cairn:entry_hash"] for event in json.loads(text)["epcisBody"]["eventList"]}
    s45x = Entry.objects.filter(type__in=("supplier_certification", "sale")).values_list("entry_hash", flat=True)
    assert set(s45x) <= exported and len(s45x) == 2


def test_the_provenance_graph_shows_no_cost(api, ledger, maker, cells):
    response = api.get(f"/api/v1/batches/{cells}/provenance", **maker.auth)
    assert response.status_code == 200
    assert "direct_material_cost" not in response.content.decode()


def test_a_certification_is_read_by_its_taxpayer(api, ledger, refiner, maker, stranger, miner, cells, cathode):
    """The taxpayer keeps the certification (six years): it reads it though it
    neither signed it nor holds the batch; another organisation does not."""
    receipt = ledger.supplier_certification(refiner, cathode, stranger)
    url = f"/api/v1/attestations/{receipt.receipt.index}"
    assert api.get(url, **stranger.auth).status_code == 200
    assert api.get(url, **miner.auth).status_code == 404
    listed = api.get("/api/v1/attestations", **stranger.auth).json()
    assert receipt.receipt.index in [item["index"] for item in listed["entries"]]
