"""`cairn import --epcis`: a supplier's EPCIS 2.0 document into statements
signed with its own key, through the CSV import's journal and refusal
report; what maps to no statement of its own is listed, not guessed.

The round trip: a batch's export, imported into a fresh ledger under the
same organisations (each signing its own events), exports the same events."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection

from cairn_core import epcis
from cairn_core.client import Client, Importer
from demo import data as demo
from provenance import epcis as export
from provenance.models import Batch, Claim, Entry
from tests.epcis_schema import errors
from tests.support import PARTIES as PARTIES_MADE
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


def importer(live_server, party, source, tmp_path, cosigners=()):
    client = Client(live_server.url, party.token)
    name = f"{source.stem}.{party.org.slug}"
    return Importer(
        client,
        party.private_key,
        source,
        issuer=party.org.slug,
        journal=tmp_path / f"{name}.journal.jsonl",
        report=tmp_path / f"{name}.refusals.csv",
        epcis=True,
        cosigners=cosigners,
    )


def refusals(path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def fresh_ledger() -> None:
    """Empty the ledger, its organisations and users; the rule data stays, as
    a new installation's migrations would load it."""
    keep = {
        model._meta.db_table
        for name in ("agreements", "material_assistance", "contenttypes")
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
        assert summary.as_dict()["created"] == len(own), refusals(tmp_path / f"pack.{slug}.refusals.csv")
        listed = refusals(tmp_path / f"pack.{slug}.refusals.csv")
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
    report = tmp_path / "supplier.pilbara-mining.refusals.csv"
    listed = {int(row["row"]): (row["code"], row["message"]) for row in refusals(report)}
    assert listed == {
        2: ("not_mapped", "AggregationEvent ADD: no Cairn statement says what this event says"),
        3: ("not_mapped", f"input {ore} has no quantity: Cairn does not guess amounts"),
        4: ("not_mapped", "an event of kansai-refining: only kansai-refining can sign it"),
    }
    (entry,) = Entry.objects.filter(type="origin")
    assert entry.statement["occurred_at"] == "2024-03-01T10:00:00Z"
    assert entry.statement["outputs"][0]["quantity"] == "1000.5"
    assert entry.statement["site"] == {"name": "Pit 2", "country": "AU"}


def segments(document: dict) -> list[tuple[str, list[dict]]]:
    """The document's events as runs of one issuer's, in order: what each
    organisation imports in turn so that the new log keeps the old order."""
    runs: list[tuple[str, list[dict]]] = []
    for event in events(document):
        slug = event["cairn:issuer"].rsplit("/", 1)[1]
        if runs and runs[-1][0] == slug:
            runs[-1][1].append(event)
        else:
            runs.append((slug, [event]))
    return runs


def test_a_demo_claims_export_with_certifications_round_trips_through_a_fresh_ledger(live_server, tmp_path, settings):
    """Each organisation imports its own events; the certifier its
    certifications, co-signed by the batch's custodian (the consent the
    ledger asks for), whose head it may not read: the import learns it from
    the ledger's answer to the co-signed statement."""
    settings.VAR_DIR = tmp_path
    call_command("load_demo", stdout=io.StringIO())
    firsts = {claim.vin: export.export(Batch.objects.get(id=claim.batch_id)) for claim in Claim.objects.all()}
    vin, first = next((v, d) for v, d in firsts.items() if any(e.get("bizStep") == "inspecting" for e in events(d)))
    fresh_ledger()
    parties = {spec.slug: make_party(spec.slug, list(spec.roles), spec.country, spec.name) for spec in demo.ORGS}
    ids = export.identifiers()
    for number, (slug, run) in enumerate(segments(first)):
        source = tmp_path / f"{number:03d}-{slug}.jsonld"
        source.write_text(epcis.dumps({**first, "epcisBody": {"eventList": run}}))
        cosigners = []
        if run[0].get("bizStep") == "inspecting":  # the custodian's consent
            batch = ids.batch_id(run[0]["quantityList"][0]["epcClass"], lots={})
            cosigners = [parties[Batch.objects.get(id=batch).custodian_id].private_key]
        summary = importer(live_server, parties[slug], source, tmp_path, cosigners).run().as_dict()
        assert summary["created"] == len(run), refusals(tmp_path / f"{source.stem}.{slug}.refusals.csv")
    again = export.export(Batch.objects.get(id=Claim.objects.get(vin=vin).batch_id))
    assert [epcis.without_log_fields(e) for e in events(again)] == [epcis.without_log_fields(e) for e in events(first)]
    certified = [e for e in events(again) if e.get("bizStep") == "inspecting"]
    assert certified and all(e["certificationInfo"] and "cairn:statement" in e for e in certified)
    assert errors(json.loads(json.dumps(again, default=float))) == []


def test_a_certification_without_its_custodians_consent_is_refused_and_tells_no_head(live_server, tmp_path):
    ids, document, _ = exported_pack(tmp_path)
    miner, certifier = PARTIES_MADE["pilbara-mining"], make_party("assay-labs", ["certifier"], country="CA")
    ledger = Ledger()
    ledger.certify(certifier, ids["ore"], custodian=PARTIES_MADE["kansai-refining"])
    (event,) = [e for e in events(export.export(Batch.objects.get(id=ids["ore"]))) if e.get("bizStep") == "inspecting"]
    source = tmp_path / "certified.jsonld"
    source.write_text(epcis.dumps({**document, "epcisBody": {"eventList": [event]}}))
    before = Entry.objects.count()
    summary = importer(live_server, certifier, source, tmp_path, [miner.private_key]).run().as_dict()
    assert summary["refused"] == 1 and Entry.objects.count() == before
    (row,) = refusals(tmp_path / "certified.assay-labs.refusals.csv")
    assert row["message"].startswith("cannot fill prev: the issuer may not read the batch")
    assert row["head"] == "" and ledger.head(ids["ore"]) not in row["message"]
