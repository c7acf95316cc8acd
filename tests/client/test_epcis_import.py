"""`cairn import --epcis`: a supplier's EPCIS 2.0 document into statements
signed with its own key, through the CSV import's journal and refusal
report; what maps to no statement of its own is listed, not guessed.

The round trip: a batch's export, imported into a fresh ledger under the
same organisations (each signing its own events), exports the same events."""

from __future__ import annotations

import csv
import json

import pytest
from django.apps import apps
from django.core.management.color import no_style
from django.db import connection

from cairn_core import epcis
from cairn_core.client import Client, Importer
from provenance import epcis as export
from provenance.models import Batch, Entry
from tests.support import Ledger, make_party, mine_to_claim

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

VIN = "1HGCM82633A004352"
PARTIES = (
    ("pilbara-mining", "supplier", "AU"),
    ("kansai-refining", "supplier", "JP"),
    ("detroit-cells", "manufacturer", "US"),
)


def organisations():
    return {slug: make_party(slug, [role], country=country) for slug, role, country in PARTIES}


def events(document: dict) -> list[dict]:
    return document["epcisBody"]["eventList"]


def importer(live_server, party, source, tmp_path):
    client = Client(live_server.url, party.token)
    slug = party.org.slug
    return Importer(
        client,
        party.private_key,
        source,
        issuer=slug,
        journal=tmp_path / f"{slug}.journal.jsonl",
        report=tmp_path / f"{slug}.refusals.csv",
        epcis=True,
    )


def refusals(path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def fresh_ledger() -> None:
    """Empty the ledger, its organisations and users; the rule data stays, as
    a new installation's migrations would load it."""
    keep = {
        model._meta.db_table
        for name in ("agreements", "contenttypes")
        for model in apps.get_app_config(name).get_models()
    }
    keep.add("auth_permission")
    tables = [t for t in connection.introspection.django_table_names(only_existing=True) if t not in keep]
    # SQLite deletes table by table, checking each key at once: check none
    # while emptying (PostgreSQL truncates them all in one statement).
    with connection.constraint_checks_disabled(), connection.cursor() as cursor:
        for sql in connection.ops.sql_flush(no_style(), tables, reset_sequences=True, allow_cascade=True):
            cursor.execute(sql)


def exported_pack(tmp_path):
    parties = organisations()
    ledger = Ledger()
    ids = mine_to_claim(ledger, *(parties[slug] for slug, _, _ in PARTIES), VIN)
    document = export.export(Batch.objects.get(id=ids["pack"]))
    source = tmp_path / "pack.jsonld"
    source.write_text(epcis.dumps(document, indent=2))
    return ids, document, source


def test_a_batch_exported_and_imported_into_a_fresh_ledger_exports_the_same_events(live_server, tmp_path):
    ids, first, source = exported_pack(tmp_path)
    fresh_ledger()
    assert not Entry.objects.exists()
    parties = organisations()
    for slug, _, _ in PARTIES:  # in the order the chain needs: each signs its own events
        summary = importer(live_server, parties[slug], source, tmp_path).run()
        own = [e for e in events(first) if e["cairn:issuer"].endswith("/org/" + slug)]
        assert summary.as_dict()["created"] == len(own), refusals(tmp_path / f"{slug}.refusals.csv")
        listed = refusals(tmp_path / f"{slug}.refusals.csv")
        assert len(listed) == len(events(first)) - len(own)
        assert {row["code"] for row in listed} == {"not_mapped"}
        assert all("only " in row["message"] for row in listed)
    again = export.export(Batch.objects.get(id=ids["pack"]))
    assert [epcis.without_log_fields(e) for e in events(again)] == [epcis.without_log_fields(e) for e in events(first)]
    signers = {
        e.issuer_id: set(e.signature_records.values_list("key__keyid", flat=True))
        for e in Entry.objects.exclude(type="ledger")
    }
    assert signers == {slug: {parties[slug].keyid} for slug, _, _ in PARTIES}


def test_what_cannot_be_mapped_is_listed_with_its_reason_and_nothing_is_guessed(live_server, tmp_path):
    miner = make_party("pilbara-mining", ["supplier"], country="AU")
    base = "https://" + export.settings.LEDGER_ORIGIN
    ore = f"{base}/batch/pilbara-mining/ore-1"
    document = {
        "@context": epcis.context(export.identifiers()),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-03-01T10:00:00+00:00",
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
                    "eventTime": "2024-03-01T12:00:00+02:00", "eventTimeZoneOffset": "+02:00",
                    "epcList": [], "quantityList": [{"epcClass": ore, "quantity": 1000.5, "uom": "KGM"}],
                    "readPoint": {"id": f"{base}/site/AU/Pit%202"},
                    "ilmd": {"cairn:activity": "extraction", "cairn:outputs": [{
                        "cairn:batch": ore, "cairn:material": "spodumene", "cairn:value_added_usd": 120,
                        "cairn:minerals": [{"cairn:mineral": "lithium", "cairn:kg": 60}]}]},
                },
                {
                    "type": "AggregationEvent", "action": "ADD", "parentID": "urn:epc:id:sscc:0614141.1234567890",
                    "childEPCs": [], "eventTime": "2024-03-02T10:00:00Z", "eventTimeZoneOffset": "+00:00",
                },
                {
                    "type": "TransformationEvent", "eventTime": "2024-03-03T10:00:00Z", "eventTimeZoneOffset": "+00:00",
                    "inputQuantityList": [{"epcClass": ore}],
                    "outputQuantityList": [], "readPoint": {"id": f"{base}/site/AU/Pit%202"},
                },
                {
                    "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
                    "eventTime": "2024-03-04T10:00:00Z", "eventTimeZoneOffset": "+00:00",
                    "epcList": [], "quantityList": [{"epcClass": ore}],
                    "cairn:issuer": f"{base}/org/kansai-refining",
                },
            ]
        },
    }  # fmt: skip
    source = tmp_path / "supplier.jsonld"
    source.write_text(json.dumps(document))
    summary = importer(live_server, miner, source, tmp_path).run().as_dict()
    assert (summary["rows"], summary["created"], summary["refused"]) == (4, 1, 3)
    listed = {
        int(row["row"]): (row["code"], row["message"]) for row in refusals(tmp_path / "pilbara-mining.refusals.csv")
    }
    assert listed == {
        2: ("not_mapped", "AggregationEvent ADD: no Cairn statement says what this event says"),
        3: ("not_mapped", f"input {ore} has no quantity: Cairn does not guess amounts"),
        4: ("not_mapped", "an event of kansai-refining: only kansai-refining can sign it"),
    }
    (entry,) = Entry.objects.filter(type="origin")
    assert entry.statement["occurred_at"] == "2024-03-01T10:00:00Z"
    assert entry.statement["outputs"][0]["quantity"] == "1000.5"
    assert entry.statement["site"] == {"name": "Pit 2", "country": "AU"}
