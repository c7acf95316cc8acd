"""`cairn-epcis-check EXPORT --bundle BUNDLE --log-key VKEY`: each event of an
EPCIS export traced to a signed, logged entry that says what it says."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import bundle
from cairn_core import dsse, epcis, epcis_check, signed_note
from provenance import checkpoints, ledger_key
from provenance import epcis as export
from provenance.models import Batch, Claim, EpcisEvent
from tests.support import claim, simple_chain

pytestmark = pytest.mark.django_db

VIN = "1HGCM82633A004352"


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


# --- against a running Cairn's log (--log URL) -------------------------------------------


@pytest.fixture
def served(live_server, ledger, miner, refiner, maker, certifier, auditor, tmp_path):
    """An export of a claimed pack whose ore was certified, every entry in a
    published checkpoint, and an auditor's token to read the entries with."""
    pack = simple_chain(ledger, miner, refiner, maker)
    ore = Batch.objects.filter(owner=miner.org).values_list("id", flat=True).first()
    ledger.certify(certifier, ore)
    claim(ledger, maker, pack, VIN)
    checkpoints.publish_checkpoint()
    exported = tmp_path / "pack.jsonld"
    exported.write_text(epcis.dumps(export.export(Batch.objects.get(id=pack))))
    return exported, ["--log", live_server.url, "--token", auditor.token]


def logged(capsys, exported, log, *extra: str) -> tuple[int, str]:
    status = epcis_check.main([str(exported), *log, *extra])
    return status, capsys.readouterr().out


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_event_traces_to_an_entry_of_the_log_in_a_checkpoint_under_the_pinned_key(served, capsys):
    exported, log = served
    document = json.loads(exported.read_text())
    assert any(e.get("bizStep") == "inspecting" for e in document["epcisBody"]["eventList"])
    events = len(document["epcisBody"]["eventList"])
    assert logged(capsys, exported, log, *pinned()) == (
        0,
        f"TRACED: {events} events, each a signed entry of a log verified against the pinned keys\n",
    )
    status, out = logged(capsys, exported, log)
    assert status == 3 and "UNANCHORED" in out and "TRACED" not in out
    stranger = dsse.raw_public_key(Ed25519PrivateKey.generate())
    other = signed_note.verifier_string(ledger_key.current().origin, stranger)
    status, out = logged(capsys, exported, log, "--log-key", other)
    assert status == 1 and out.startswith("log: the checkpoint does not verify under the log key")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_event_whose_quantity_or_cairn_fields_changed_is_refused_by_the_log_named(served, capsys):
    exported, log = served

    def changed(events):
        events[0]["quantityList"][0]["quantity"] = Decimal("2000")
        events[1]["cairn:issuer"] = events[1]["cairn:issuer"].replace("pilbara-mining", "kansai-refining")
        events[2]["cairn:entry_hash"] = "0" * 64

    tampered(exported, changed)
    status, out = logged(capsys, exported, log, *pinned())
    assert status == 1
    indexes = [e["cairn:index"] for e in json.loads(exported.read_text())["epcisBody"]["eventList"]]
    lines = out.splitlines()
    assert f"event 1 (index {indexes[0]}): says otherwise than its entry: quantityList" in lines
    assert f"event 2 (index {indexes[1]}): says otherwise than its entry: cairn:issuer" in lines
    assert f"event 3 (index {indexes[2]}): says otherwise than its entry: cairn:entry_hash" in lines
    assert lines[-1].startswith("FAILED: ")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_event_naming_an_entry_not_yet_checkpointed_or_not_in_the_log_is_named(served, ledger, miner, capsys):
    exported, log = served
    later = Batch.objects.get(id=ledger.origin(miner)).created_by_id  # after the checkpoint

    def elsewhere(events):
        events[0]["cairn:index"] = later
        events[1]["cairn:index"] = 10_000

    tampered(exported, elsewhere)
    status, out = logged(capsys, exported, log, *pinned())
    assert status == 1
    lines = out.splitlines()
    assert any(line.startswith(f"event 1 (index {later}): entry {later} is not in the log's latest") for line in lines)
    assert "event 2 (index 10000): the log serves no entry 10000 to this token (not_found)" in lines
