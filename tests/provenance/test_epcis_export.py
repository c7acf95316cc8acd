"""GET /batches/{id}/epcis and `manage.py export_epcis` (contract §11): every
demo claim's export is valid EPCIS 2.0 by GS1's own schema, each event names
its log entry, and the schema refuses what Cairn must never write."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command

from cairn_core import epcis
from demo import data as demo
from provenance import epcis as export
from provenance.models import Batch, Claim, Entry
from tests import epcis_schema
from tests.epcis_schema import errors
from tests.support import mine_to_claim

pytestmark = pytest.mark.django_db


def events(document: dict) -> list[dict]:
    return document["epcisBody"]["eventList"]


def parsed(text: str | bytes) -> dict:
    """As a partner's tool reads it: numbers as numbers (exact, for the checks)."""
    return json.loads(text, parse_float=Decimal)


def exported(batch_id: str) -> dict:
    out = io.StringIO()
    call_command("export_epcis", batch_id, stdout=out)
    return parsed(out.getvalue())


def test_every_demo_claims_export_is_valid_epcis_and_names_its_entries(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("load_demo", stdout=io.StringIO())
    claims = list(Claim.objects.order_by("entry_id"))
    assert len(claims) == len(demo.CLAIMS)
    entries = {e.index: e for e in Entry.objects.exclude(type="ledger")}
    for claim in claims:
        document = exported(claim.batch_id)
        assert errors(json.loads(json.dumps(document, default=float))) == [], claim.vin
        assert [e["cairn:index"] for e in events(document)] == export.upstream_indexes(claim.batch_id)
        for event in events(document):
            entry = entries[event["cairn:index"]]
            assert (event["cairn:entry_hash"], event["cairn:leaf_hash"]) == (entry.entry_hash, entry.leaf_hash)
        (own,) = [e for e in events(document) if e["cairn:index"] == claim.entry_id]
        assert own["type"] == "AssociationEvent" and own["parentID"].endswith("/vin/" + claim.vin)
        # the IDs are the reference implementation's hashes of the events as published
        assert [e["eventID"] for e in events(document)] == epcis.event_hashes(document)


def test_quantities_are_exact_numbers_with_uncefact_units_and_ids_are_uris(ledger, miner, refiner, maker):
    ids = mine_to_claim(ledger, miner, refiner, maker, "1HGCM82633A004352")
    document = exported(ids["pack"])
    assert errors(json.loads(json.dumps(document, default=float))) == []
    kinds = [(e["type"], e.get("action"), e.get("bizStep")) for e in events(document)]
    assert kinds == [
        ("ObjectEvent", "ADD", "commissioning"),
        ("ObjectEvent", "OBSERVE", "shipping"),
        ("TransformationEvent", None, "creating_class_instance"),
        ("ObjectEvent", "OBSERVE", "shipping"),
        ("TransformationEvent", None, "creating_class_instance"),
        ("TransformationEvent", None, "assembling"),
        ("AssociationEvent", "ADD", "installing"),
    ]
    origin, _, refinery, _, cells, _, claim = events(document)
    base = "https://" + export.settings.LEDGER_ORIGIN
    assert origin["quantityList"] == [
        {"epcClass": f"{base}/batch/pilbara-mining/{ids['ore'].split(':')[1]}", "quantity": 1000, "uom": "KGM"}
    ]
    assert origin["ilmd"]["cairn:outputs"][0]["cairn:minerals"] == [{"cairn:mineral": "lithium", "cairn:kg": 60}]
    assert refinery["inputQuantityList"][0]["uom"] == "KGM"
    assert cells["outputQuantityList"][0]["uom"] == "H87"
    pack = f"{base}/batch/detroit-cells/{ids['pack'].split(':')[1]}"
    assert claim["childQuantityList"] == [{"epcClass": pack, "quantity": 1, "uom": "H87"}]
    assert origin["readPoint"]["id"] == f"{base}/site/AU/pilbara-mining%20site"
    assert origin["eventTime"].endswith("+00:00") and origin["eventTimeZoneOffset"] == "+00:00"
    assert document["@context"][1] == {"cairn": f"{base}/ns/epcis#"}


def test_a_gtin_and_lot_becomes_a_gs1_digital_link(ledger, miner):
    batch = ledger.origin(miner, batch="pilbara-mining:09506000134352.L-7")
    (event,) = events(exported(batch))
    assert event["quantityList"][0]["epcClass"] == "https://id.gs1.org/01/09506000134352/10/L-7"


def test_gs1s_schema_refuses_a_mangled_unit_and_a_string_quantity(ledger, miner):
    batch = ledger.origin(miner)
    document = json.loads(json.dumps(exported(batch), default=float))
    assert errors(document) == []
    element = events(document)[0]["quantityList"][0]
    element["uom"] = "kilogram"
    assert errors(document) == ["epcisBody/eventList/0/quantityList/0/uom: 'kilogram' does not match '^[A-Z0-9]{2,3}$'"]
    element["uom"], element["quantity"] = "KGM", "1000"
    assert errors(document) == ["epcisBody/eventList/0/quantityList/0/quantity: '1000' is not of type 'number'"]
    element["quantity"] = 1000
    events(document)[0]["eventTime"] = "2024-03-01 10:00"
    assert errors(document) == ["epcisBody/eventList/0/eventTime: '2024-03-01 10:00' is not a 'date-time'"]


def test_the_schema_with_its_references_resolved_says_what_gs1s_schema_says(ledger, miner, refiner, maker):
    ids = mine_to_claim(ledger, miner, refiner, maker, "1HGCM82633A004352")
    document = json.loads(json.dumps(exported(ids["pack"]), default=float))
    as_published = epcis_schema.build(epcis_schema.published())
    assert epcis_schema.messages(as_published.iter_errors(document)) == errors(document) == []
    origin, transfer, refinery, *_, claim = events(document)
    origin["quantityList"][0]["uom"] = "kilogram"
    transfer["destinationList"][0]["destination"] = "not a uri"
    refinery["inputQuantityList"][0]["quantity"] = "500"
    refinery["bizStep"] = 7
    claim["parentID"] = 1
    claim["eventTime"] = "yesterday"
    del document["epcisBody"]["eventList"][1]["eventTimeZoneOffset"]
    found = errors(document)
    assert len(found) >= 6, found
    assert epcis_schema.messages(as_published.iter_errors(document)) == found


def test_the_endpoint_serves_the_provenances_readers_only(api, ledger, miner, refiner, stranger, auditor):
    batch = ledger.origin(miner)
    ledger.transfer(miner, batch, refiner)
    for reader in (miner, refiner, auditor):
        response = api.get(f"/api/v1/batches/{batch}/epcis", **reader.auth)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/ld+json"
        assert [e["cairn:index"] for e in events(parsed(response.content))] == export.upstream_indexes(batch)
    for path in (f"/api/v1/batches/{batch}/epcis", "/api/v1/batches/pilbara-mining:none/epcis"):
        response = api.get(path, **stranger.auth)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert api.get(f"/api/v1/batches/{batch}/epcis").status_code == 401


def test_a_batchs_export_leaves_out_what_was_made_from_it(ledger, miner, refiner):
    ore = ledger.origin(miner, quantity="1000")
    ledger.transfer(miner, ore, refiner)
    ledger.transform(refiner, [(ore, "500")], [{"quantity": "50"}])
    types = [e["type"] for e in events(exported(ore))]
    assert types == ["ObjectEvent", "ObjectEvent"]  # the origin and the transfer, not the refinery


def test_the_command_writes_a_file_and_refuses_an_unknown_batch(ledger, miner, tmp_path):
    batch = ledger.origin(miner)
    target = tmp_path / "export.jsonld"
    call_command("export_epcis", batch, "-o", str(target))
    assert events(parsed(target.read_text()))[0]["cairn:index"] == Batch.objects.get(id=batch).created_by_id
    with pytest.raises(Exception, match="No batch pilbara-mining:none"):
        call_command("export_epcis", "pilbara-mining:none")
