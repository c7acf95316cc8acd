"""Each entry's EPCIS event is derived once, after its append, and stored:
an export splices the stored events (provenance.epcis, provenance.tasks)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from cairn_core import epcis
from provenance import epcis as export
from provenance import tasks
from provenance.models import Batch, Entry, EpcisEvent
from tests.support import mine_to_claim

pytestmark = pytest.mark.django_db

VIN = "1HGCM82633A004352"


def computed_afresh(batch_id: str) -> list[dict]:
    """The export's events as the mapping makes them from the signed statements, all at once."""
    entries = export.logged_statements(export.upstream_indexes(batch_id))
    document = epcis.document(entries, export.identifiers(), created="2026-01-01T00:00:00Z")
    return json.loads(epcis.dumps(document), parse_float=Decimal)["epcisBody"]["eventList"]


def events(batch_id: str) -> list[dict]:
    return export.export(Batch.objects.get(id=batch_id))["epcisBody"]["eventList"]


def test_an_append_schedules_its_entries_events_once_it_commits(
    settings, ledger, miner, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CAIRN_EPCIS_DERIVE_ON_APPEND = True
    scheduled: list[list[int]] = []
    monkeypatch.setattr(tasks.derive_epcis_events, "apply_async", lambda args, retry: scheduled.append(*args))
    with django_capture_on_commit_callbacks(execute=True):
        batch = ledger.origin(miner)
    assert tasks.flush_epcis_events()
    assert scheduled == [[Batch.objects.get(id=batch).created_by_id]]


def test_a_broker_that_is_down_fails_no_append(
    settings, ledger, miner, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CAIRN_EPCIS_DERIVE_ON_APPEND = True

    def down(args, retry):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.derive_epcis_events, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        batch = ledger.origin(miner)
    assert tasks.flush_epcis_events()
    assert not EpcisEvent.objects.exists()
    assert [e["cairn:index"] for e in events(batch)] == [Batch.objects.get(id=batch).created_by_id]
    assert EpcisEvent.objects.count() == 1  # the export derived and stored it


def test_the_task_derives_every_event_once_and_the_export_splices_them(ledger, miner, refiner, maker):
    ids = mine_to_claim(ledger, miner, refiner, maker, VIN)
    attestations = Entry.objects.exclude(type="ledger")
    assert tasks.derive_epcis_events() == attestations.count()
    assert tasks.derive_epcis_events() == 0  # delivered twice: nothing left to claim
    assert tasks.derive_epcis_events(list(attestations.values_list("index", flat=True))) == 0
    stored = dict(EpcisEvent.objects.values_list("entry_id", "event"))
    assert set(stored) == set(attestations.values_list("index", flat=True))
    assert events(ids["pack"]) == computed_afresh(ids["pack"])
    assert EpcisEvent.objects.count() == len(stored)  # the export derived nothing


def test_an_entrys_event_does_not_depend_on_later_entries(ledger, miner, refiner, maker):
    ore = ledger.origin(miner, quantity="1000")
    tasks.derive_epcis_events()  # the origin's event, before anything uses the ore
    ledger.transfer(miner, ore, refiner)
    (lithium,) = ledger.transform(refiner, [(ore, "500")], [{"quantity": "50"}])
    tasks.derive_epcis_events()  # the refinery's, before the lithium moves on
    early = dict(EpcisEvent.objects.values_list("entry_id", "event"))
    ledger.transfer(refiner, lithium, maker)
    ledger.transform(maker, [(lithium, "50")], [{"quantity": "10", "unit": "unit"}], activity="manufacturing")
    assert tasks.derive_epcis_events() == 2
    assert {i: e for i, e in EpcisEvent.objects.values_list("entry_id", "event") if i in early} == early
    assert events(lithium) == computed_afresh(lithium)
    assert [e["cairn:index"] for e in events(lithium)][: len(early)] == sorted(early)


def test_an_event_of_another_derivation_is_derived_again(settings, ledger, miner):
    batch = ledger.origin(miner)
    before = events(batch)
    settings.LEDGER_ORIGIN = "cairn.elsewhere.example/log"
    after = events(batch)
    assert after[0]["quantityList"][0]["epcClass"].startswith("https://cairn.elsewhere.example/log/batch/")
    assert after[0]["eventID"] != before[0]["eventID"]
    assert after == computed_afresh(batch)
    assert EpcisEvent.objects.get().derivation == epcis.derivation(export.identifiers())
