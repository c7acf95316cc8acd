"""cairn_core.epcis and epcis_import without a ledger: every statement type to
its EPCIS event and back, identifiers, units and exact numbers."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from cairn_core import epcis
from cairn_core.epcis_ids import IdentifierError, Identifiers, decimal_text, gtin_check_digit_ok
from cairn_core.epcis_import import statements_of
from tests.epcis_schema import errors

IDS = Identifiers.for_origin("ledger.example.com/cairn")
ORE = "pilbara-mining:09506000134352.L-7"
STATEMENTS = [
    {"type": "origin", "issuer": "pilbara-mining", "occurred_at": "2024-03-01T10:00:00Z", "activity": "extraction",
     "site": {"name": "Pit 2, Pilgangoora", "country": "AU"},
     "outputs": [{"batch": ORE, "material": "spodumene", "quantity": "123456789012345678901.123456789", "unit": "kg",
                  "value_added_usd": "120", "minerals": {"lithium": "60.25"}}]},
    {"type": "certify", "issuer": "assay-labs", "occurred_at": "2024-03-02T10:00:00Z", "batch": ORE,
     "statement": {"assay": {"li2o_pct": "6.1"}, "ok": True},
     "documents": [{"name": "assay.pdf", "sha256": "ab" * 32}]},
    {"type": "transfer", "issuer": "pilbara-mining", "occurred_at": "2024-03-03T10:00:00Z", "batch": ORE,
     "to": "kansai-refining"},
    {"type": "transform", "issuer": "kansai-refining", "occurred_at": "2024-03-04T10:00:00Z", "activity": "split",
     "site": {"name": "Kwinana", "country": "AU"}, "inputs": [{"batch": ORE, "quantity": "1000"}],
     "outputs": [{"batch": "kansai-refining:a", "material": "ore", "quantity": "10", "unit": "unit",
                  "value_added_usd": "0.5", "component": "battery_pack"},
                 {"batch": "kansai-refining:b", "material": "ore", "quantity": "30", "unit": "unit",
                  "value_added_usd": "0"}]},
    {"type": "claim", "issuer": "kansai-refining", "occurred_at": "2024-03-05T10:00:00Z", "batch": "kansai-refining:a",
     "quantity": "1", "vin": "1HGCM82633A004352", "acquired": "2024-03-01", "placed_in_service": "2024-03-05",
     "final_assembly": {"name": "Plant", "country": "US"}},
]  # fmt: skip


def logged(statements):
    signed = [
        {**s, "schema": "cairn.attestation/v1", "issued_at": "2026-01-01T00:00:00Z", "prev": "0" * 64}
        for s in statements
    ]
    return [epcis.LoggedStatement(i, f"{i:064x}", f"{i + 7:064x}", 1_767_225_600 + i, s) for i, s in enumerate(signed)]


def exported(statements=STATEMENTS) -> dict:
    """As an importer reads it: numbers exact."""
    return json.loads(
        parse_float=Decimal, s=epcis.dumps(epcis.document(logged(statements), IDS, created="2026-01-01T00:00:00Z"))
    )


def test_every_statement_type_maps_to_a_valid_event_and_back():
    document = exported()
    assert errors(document) == []
    for issuer in ("pilbara-mining", "assay-labs", "kansai-refining"):
        back = statements_of(document, issuer=issuer)
        mine = [i for i, s in enumerate(STATEMENTS) if s["issuer"] == issuer]
        assert [back[i] for i in mine] == [STATEMENTS[i] for i in mine]
        assert all(isinstance(back[i], ValueError) for i in range(len(STATEMENTS)) if i not in mine)


def test_numbers_are_exact_and_units_are_uncefact():
    text = epcis.dumps(epcis.document(logged(STATEMENTS[:1]), IDS, created="2026-01-01T00:00:00Z"))
    assert '"quantity": 123456789012345678901.123456789, "uom": "KGM"' in text
    element = json.loads(text, parse_float=Decimal)["epcisBody"]["eventList"][0]["quantityList"][0]
    assert decimal_text(element["quantity"]) == "123456789012345678901.123456789"
    assert decimal_text(1.25e3) == "1250" and decimal_text(Decimal("1250.50")) == "1250.5"
    with pytest.raises(IdentifierError):
        decimal_text("1250")


def test_identifiers():
    assert IDS.batch(ORE) == "https://id.gs1.org/01/09506000134352/10/L-7"
    assert (
        IDS.batch("pilbara-mining:09506000134353.L-7")
        == "https://ledger.example.com/cairn/batch/pilbara-mining/09506000134353.L-7"
    )
    assert gtin_check_digit_ok("09506000134352") and not gtin_check_digit_ok("09506000134353")
    site = IDS.site("Pit 2, Pilgangoora/North", "AU")
    assert site == "https://ledger.example.com/cairn/site/AU/Pit%202%2C%20Pilgangoora%2FNorth"
    assert IDS.site_of(site) == {"name": "Pit 2, Pilgangoora/North", "country": "AU"}
    assert Identifiers.from_namespace(IDS.namespace) == IDS
    with pytest.raises(IdentifierError):
        IDS.batch_id("https://elsewhere.example/batch/a/b", lots={})


def test_each_event_id_is_the_reference_hash_and_changes_with_the_event():
    document = exported()
    ids = [event["eventID"] for event in document["epcisBody"]["eventList"]]
    assert all(i.startswith("ni:///sha-256;") and i.endswith("?ver=CBV2.0") for i in ids)
    assert len(set(ids)) == len(ids)
    assert epcis.event_hashes(document) == ids
    document["epcisBody"]["eventList"][0]["quantityList"][0]["quantity"] = 1
    assert epcis.event_hashes(document)[0] != ids[0]


def test_cached_event_ids_are_the_computed_ones():
    class Cache(dict):
        def get_many(self, keys):
            return {key: self[key] for key in keys if key in self}

        def set_many(self, data, timeout=None):
            self.update(data)

    cache = Cache()
    cold = epcis.document(logged(STATEMENTS), IDS, created="2026-01-01T00:00:00Z", known_ids=cache)
    assert len(cache) == len(STATEMENTS)
    warm = epcis.document(logged(STATEMENTS), IDS, created="2026-01-01T00:00:00Z", known_ids=cache)
    assert warm == cold == epcis.document(logged(STATEMENTS), IDS, created="2026-01-01T00:00:00Z")


def test_a_document_naming_another_remote_context_is_not_hashed():
    """The reference implementation would fetch it over the network: an
    offline check must not, and Cairn never writes one."""
    document = exported()
    document["@context"] = ["https://elsewhere.example/context.jsonld", *document["@context"]]
    with pytest.raises(epcis.EventHashError, match="EPCIS 2.0's alone"):
        epcis.event_hashes(document)
