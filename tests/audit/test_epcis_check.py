"""`cairn-epcis-check EXPORT --bundle BUNDLE --log-key VKEY`: each event of an
EPCIS export traced to a signed, logged entry that says what it says."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from audit import bundle
from cairn_core import epcis, epcis_check
from provenance import epcis as export
from provenance import ledger_key
from provenance.models import Batch, Claim, EpcisEvent
from tests.audit.conftest import claim, simple_chain

pytestmark = pytest.mark.django_db

VIN = "1HGCM82633A004352"


@pytest.fixture(autouse=True)
def no_idle_timeout_in_the_test_transaction(settings):
    """Each test runs in one transaction, and an append arms PostgreSQL's
    idle-in-transaction timeout (2 s) for the rest of it; hashing events with
    GS1's reference implementation takes longer than that between queries."""
    settings.CAIRN_APPEND_IDLE_TIMEOUT = 0


@pytest.fixture
def files(ledger, miner, refiner, maker, verify, tmp_path):
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    verification = verify(VIN)
    document = export.export(Batch.objects.get(id=pack))
    exported = tmp_path / "pack.jsonld"
    exported.write_text(epcis.dumps(document))
    bundled = tmp_path / "claim.cairn-bundle.json"
    bundled.write_bytes(bundle.dumps(bundle.build_bundle(verification)))
    return exported, bundled


def run(capsys, exported, bundled, *extra: str) -> tuple[int, str]:
    status = epcis_check.main([str(exported), "--bundle", str(bundled), *extra])
    return status, capsys.readouterr().out


def pinned() -> list[str]:
    return ["--log-key", ledger_key.current().verifier]


def test_every_event_of_an_export_traces_to_an_entry_of_a_verified_bundle(files, capsys):
    status, out = run(capsys, *files, *pinned())
    events = len(json.loads(files[0].read_text())["epcisBody"]["eventList"])
    assert (status, out) == (
        0,
        f"TRACED: {events} events, each a signed entry of a log verified against the pinned keys\n",
    )
    status, out = run(capsys, *files)
    assert status == 3 and "UNANCHORED" in out and "TRACED" not in out


def tampered(path, change) -> None:
    document = json.loads(path.read_text(), parse_float=Decimal)
    change(document["epcisBody"]["eventList"])
    path.write_text(epcis.dumps(document))


def test_an_event_that_says_otherwise_than_its_entry_is_named(files, capsys):
    exported, bundled = files

    def more_ore(events):
        events[0]["quantityList"][0]["quantity"] = Decimal("2000")

    tampered(exported, more_ore)
    status, out = run(capsys, exported, bundled, *pinned())
    assert status == 1
    document = json.loads(exported.read_text())
    index, event_hash = document["epcisBody"]["eventList"][0]["cairn:index"], epcis.event_hashes(document)[0]
    assert out.splitlines()[:2] == [
        f"event 1 (index {index}): says otherwise than its entry: quantityList",
        f"event 1: eventID is not its event hash ({event_hash})",
    ]


def test_an_event_naming_an_entry_outside_the_bundle_or_with_other_hashes_is_named(files, capsys):
    exported, bundled = files

    def elsewhere(events):
        events[1]["cairn:index"] = 10_000
        events[2]["cairn:leaf_hash"] = "0" * 64

    tampered(exported, elsewhere)
    status, out = run(capsys, exported, bundled, *pinned())
    assert status == 1
    assert "event 2: cairn:index 10000 names no entry of the bundle" in out.splitlines()
    assert any(line.startswith("event 3 (index ") and line.endswith("cairn:leaf_hash") for line in out.splitlines())


def test_unreadable_input_is_exit_2(files, capsys, tmp_path):
    exported, bundled = files
    (tmp_path / "not.json").write_text("{")
    assert run(capsys, tmp_path / "not.json", bundled)[0] == 2
    assert run(capsys, exported, tmp_path / "missing.json")[0] == 2
    assert epcis_check.main([str(exported)]) == 2  # no --bundle


def test_a_stored_event_changed_in_the_database_is_caught_by_the_link_back(files, capsys):
    exported, bundled = files
    document = json.loads(exported.read_text(), parse_float=Decimal)
    origin = document["epcisBody"]["eventList"][0]
    stored = EpcisEvent.objects.get(entry_id=origin["cairn:index"])
    changed = json.loads(stored.event, parse_float=Decimal)
    changed["quantityList"][0]["quantity"] = Decimal("2000")
    EpcisEvent.objects.filter(pk=stored.pk).update(event=epcis.dumps(changed))
    served = export.export(Batch.objects.get(id=Claim.objects.get(vin=VIN).batch_id))
    assert served["epcisBody"]["eventList"][0]["quantityList"][0]["quantity"] == 2000  # served as stored
    exported.write_text(epcis.dumps(served))
    status, out = run(capsys, exported, bundled, *pinned())
    assert status == 1
    assert out.splitlines()[:2] == [
        f"event 1 (index {origin['cairn:index']}): says otherwise than its entry: quantityList",
        f"event 1: eventID is not its event hash ({epcis.event_hashes(json.loads(exported.read_text()))[0]})",
    ]
