"""cairn-verify against pinned keys (contract §8, "Trust"): the forgery, witnesses, --report.

THE FORGERY. A genuine bundle, built by hand (tests/core/offline_bundle.py):
Australian lithium ore (60 kg, 4,000 USD) and Indonesian nickel ore
(120 kg, 1,000 USD) processed in Indonesia into cathode material (900 USD),
made into cells (5,000 USD) in Korea, assembled into a pack (2,000 USD) in
the US, claimed for a vehicle placed in service on 2025-03-15.

By hand: the 900 of processing is shared by mineral mass 60 : 120, so
lithium (AU, an FTA country) is 4,000 + 300 = 4,300 and nickel (ID)
1,000 + 600 = 1,600: 4,300 / 5,900 = 72.88% against 60%, met. Components:
the pack is not a listed component, so 0 of the cells' 5,000 USD is North
American: 0.00% against 60%, not met. $3,750.

An examiner rewrites it so that the cells are made in the US (components
100%, met: $7,500), gives every organisation and the log fresh keys,
re-signs every entry, rebuilds the proofs and the checkpoint, and signs a
new report. It passes every check under its own keys: only the pinned log
key tells it apart.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cairn_core import bundle, cosignature, dsse, signed_note, verify_cli
from cairn_core.regimes.s30d import bundle as bundle_30d
from cairn_core.regimes.s30d import ruleset_json
from tests.agreements.domain import domain_ruleset
from tests.core.offline_bundle import OfflineLedger, origin, site, transform

VIN = "KNDJ23AU0R7000042"
CLAIM_INDEX = 7
REQUIREMENTS = {
    "critical_minerals": {"met": True, "qualifying_pct": "72.88", "required_pct": "60"},
    "battery_components": {"met": False, "north_america_pct": "0.00", "required_pct": "60"},
    "foreign_entity_of_concern": {"met": True},
    "final_assembly": {"met": True},
    "credit_in_force": {"met": True},
}
GENUINE = {
    "vin": VIN,
    "claim_index": CLAIM_INDEX,
    "integrity": "intact",
    "credit_usd": "3750",
    "requirements": REQUIREMENTS,
    "agreements": ["us-au-fta"],
    "problems": [
        {
            "code": "battery_components",
            "message": "North American battery component content 0.00% is below the required 60%",
            "index": CLAIM_INDEX,
        }
    ],
}
FORGED = {
    **GENUINE,
    "credit_usd": "7500",
    "requirements": {
        **REQUIREMENTS,
        "battery_components": {"met": True, "north_america_pct": "100.00", "required_pct": "60"},
    },
    "problems": [],
}
ISSUERS = {"au-mine": "AU", "detroit-packs": "US", "id-mine": "ID", "id-refiner": "ID", "kr-cells": "KR"}


def build_chain(cells_country: str) -> OfflineLedger:
    """The claim's chain, in a new ledger with new keys for every organisation and the log."""
    ledger = OfflineLedger()
    au, idm = ledger.org("au-mine", "AU", "supplier"), ledger.org("id-mine", "ID", "supplier")
    refiner = ledger.org("id-refiner", "ID", "supplier")
    cells_maker = ledger.org("kr-cells", cells_country, "manufacturer")
    packer = ledger.org("detroit-packs", "US", "manufacturer")
    origin(ledger, au, "au-mine:ORE", "lithium", "60", "4000", "AU")
    origin(ledger, idm, "id-mine:ORE", "nickel", "120", "1000", "ID")
    cam = {"batch": "id-refiner:CAM", "material": "cathode active material", "quantity": "500", "unit": "kg"}
    transform(
        ledger, refiner, "processing", [("au-mine:ORE", "1000"), ("id-mine:ORE", "1000")],
        {**cam, "value_added_usd": "900"}, "ID",
    )  # fmt: skip
    _transfer(ledger, refiner, "id-refiner:CAM", cells_maker.slug)
    cells = {"batch": "kr-cells:CELLS", "material": "cells", "quantity": "100", "unit": "unit"}
    transform(
        ledger, cells_maker, "manufacturing", [("id-refiner:CAM", "500")],
        {**cells, "value_added_usd": "5000", "component": "battery_cell"}, cells_country,
    )  # fmt: skip
    _transfer(ledger, cells_maker, "kr-cells:CELLS", packer.slug)
    pack = {"batch": "detroit-packs:PACK", "material": "pack", "quantity": "1", "unit": "unit"}
    transform(
        ledger, packer, "assembly", [("kr-cells:CELLS", "100")],
        {**pack, "value_added_usd": "2000", "component": "battery_pack"}, "US",
    )  # fmt: skip
    claim = {
        "type": "claim",
        "batch": "detroit-packs:PACK",
        "prev": ledger.head("detroit-packs:PACK"),
        "quantity": "1",
        "vin": VIN,
        "acquired": "2025-03-01",
        "placed_in_service": "2025-03-15",
        "final_assembly": site("assembly plant", "US"),
    }
    assert ledger.append(packer, claim) == CLAIM_INDEX
    return ledger


def _transfer(ledger, issuer, batch, to):
    ledger.append(issuer, {"type": "transfer", "batch": batch, "prev": ledger.head(batch), "to": to})


@pytest.fixture(scope="module")
def genuine():
    """The genuine ledger, its two witnesses' vkeys, and the bundle both cosigned."""
    ledger = build_chain("KR")
    witnesses = [ledger.witness("witness.example/a"), ledger.witness("witness.example/b")]
    document = ledger.bundle(VIN, GENUINE, ISSUERS, domain_ruleset())
    for name in ledger.witnesses:
        ledger.cosign(document, name)
    return ledger, witnesses, document


@pytest.fixture(scope="module")
def forged():
    """The forgery: cells made in the US, everything re-signed under fresh keys, even "witnesses"."""
    ledger = build_chain("US")
    ledger.witness("witness.example/a"), ledger.witness("witness.example/b")
    document = ledger.bundle(VIN, FORGED, {**ISSUERS, "kr-cells": "US"}, domain_ruleset())
    for name in ledger.witnesses:
        ledger.cosign(document, name)
    return ledger, document


def run(tmp_path: Path, capsys, document: object, *arguments: str) -> tuple[int, str]:
    """verify_cli.main over the document written to a file: (exit status, stdout + stderr)."""
    path = tmp_path / f"{VIN}.1.cairn-bundle.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    status = verify_cli.main([str(path), *arguments])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def pins(genuine, *witnesses: str) -> list[str]:
    ledger, _vkeys, _document = genuine
    return ["--log-key", ledger.verifier, *(item for vkey in witnesses for item in ("--witness", vkey))]


# --- the forgery ----------------------------------------------------------------------


def test_the_genuine_bundle_verifies_against_the_pinned_log_key_and_two_witnesses(genuine, tmp_path, capsys):
    ledger, witnesses, document = genuine
    status, out = run(tmp_path, capsys, document, *pins(genuine, *witnesses))
    assert status == 0
    assert out.splitlines()[-1].startswith("VERIFIED: every entry is signed, chained and in the signed log")
    assert f"Log key (pinned): {ledger.verifier}" in out
    assert "Witnesses: 2 of 2 pinned cosigned, 2 required" in out
    assert f"  {witnesses[0]}: cosigned at 2026-12-07T10:00:05Z" in out
    assert f"  {witnesses[1]}: cosigned at 2026-12-07T10:00:05Z" in out
    assert "Verdict (signed): credit $3,750, integrity intact" in out


def test_the_forgery_passes_every_check_under_its_own_keys(forged):
    _ledger, document = forged
    result = bundle_30d.verify(document)
    assert result.passed and result.failures == []
    assert result.status == bundle.UNANCHORED and not result.trusted
    assert result.verdict["credit_usd"] == "7500" and result.recomputed["credit_usd"] == "7500"


def test_the_forgery_fails_under_the_genuine_log_key_naming_both_keys(genuine, forged, tmp_path, capsys):
    ledger, witnesses, _document = genuine
    forger, document = forged
    status, out = run(tmp_path, capsys, document, *pins(genuine, *witnesses))
    assert status == 1
    assert f"FAIL log: log key: the bundle's log key {forger.verifier} is not the pinned log key {ledger.verifier}" in (
        out
    )
    assert f"Log key (pinned): {ledger.verifier}" in out
    assert f"  the bundle's own log key: {forger.verifier}" in out
    assert f"  {witnesses[0]}: no cosignature by it" in out  # the forger's "witness.example/a" has another key
    assert "NOT VERIFIED" in out


def test_the_forgery_with_no_key_given_is_unanchored_and_never_called_verified(forged, tmp_path, capsys):
    forger, document = forged
    status, out = run(tmp_path, capsys, document)
    assert status == 3
    assert "VERIFIED" not in out.upper()
    assert out.splitlines()[-6].startswith("UNANCHORED: every check passed, but nothing anchors it")
    assert f"  --log-key {forger.verifier}" in out
    assert f"Log key (the bundle's own, not pinned): {forger.verifier}" in out
    lines = document["cosignatures"]
    key_ids = [base64.b64decode(line.rsplit(" ", 1)[1])[:4].hex() for line in lines]
    assert f"witness.example/a (key ID {key_ids[0]}), witness.example/b (key ID {key_ids[1]})" in out
    status, out = run(tmp_path, capsys, document, "--json")
    assert status == 3 and "VERIFIED" not in out
    assert json.loads(out)["status"] == 3 and json.loads(out)["log_key"]["pinned"] is False


# --- witnesses ---------------------------------------------------------------------------


def test_too_few_pinned_witnesses_cosigned_is_unanchored(genuine, tmp_path, capsys):
    ledger, witnesses, document = genuine
    document = {**document, "cosignatures": document["cosignatures"][:1]}
    status, out = run(tmp_path, capsys, document, *pins(genuine, *witnesses), "--witnesses-required", "2")
    assert status == 3 and "VERIFIED" not in out.upper()
    assert "only 1 of the 2 required pinned witnesses cosigned" in out
    assert f"  {witnesses[1]}: no cosignature by it" in out
    assert f"  pinned witnesses that cosigned: {witnesses[0]}" in out
    status, _out = run(tmp_path, capsys, document, *pins(genuine, *witnesses), "--witnesses-required", "1")
    assert status == 0


def test_a_cosignature_with_a_flipped_byte_does_not_count(genuine):
    ledger, witnesses, document = genuine
    line = document["cosignatures"][1]
    raw = bytearray(base64.b64decode(line.rsplit(" ", 1)[1]))
    raw[-1] ^= 0x01
    document = {**document, "cosignatures": [document["cosignatures"][0], f"— witness.example/b {_b64(raw)}"]}
    keys = [cosignature.parse_vkey(vkey) for vkey in witnesses]
    log_key = signed_note.parse_verifier(ledger.verifier)
    result = bundle_30d.verify(document, log_key=log_key, witnesses=keys)
    assert result.status == bundle.UNANCHORED and result.failures == []
    assert [(check.cosigned is not None, check.reason) for check in result.witnesses] == [
        (True, ""),
        (False, "its cosignature does not verify"),
    ]
    assert bundle_30d.verify(document, log_key=log_key, witnesses=keys, witnesses_required=1).trusted


def _b64(raw: bytes) -> str:
    return base64.b64encode(bytes(raw)).decode()


def test_a_bundle_from_before_witnesses_has_no_cosignatures_section(genuine, tmp_path, capsys):
    _ledger, _witnesses, document = genuine
    older = {key: value for key, value in document.items() if key != "cosignatures"}
    status, out = run(tmp_path, capsys, older, *pins(genuine))
    assert status == 0
    assert "Witnesses: none pinned" in out and "Cosignature lines in the bundle: none" in out
    with pytest.raises(bundle.NotABundle, match="cosignatures"):
        bundle_30d.verify({**document, "cosignatures": [1]})


# --- what the report says -------------------------------------------------------------------


def test_the_report_names_the_rules_the_time_and_the_requester(genuine, tmp_path, capsys):
    _ledger, witnesses, document = genuine
    ruleset = domain_ruleset()
    _status, out = run(tmp_path, capsys, document, *pins(genuine, *witnesses))
    assert f"  Rules: {ruleset.version} (SHA-256 {ruleset_json.digest(ruleset)})" in out
    assert "  Verification time: 2026-12-07T10:00:00Z" in out
    assert "  Requested by: organisation examiners, user alice" in out


def test_a_verification_by_a_command_and_an_older_verdict(genuine, tmp_path, capsys):
    ledger = genuine[0]
    by_command = {"verified_at": "2026-12-07T10:00:00Z", "requested_by": {"organization": "examiners", "user": None}}
    document = ledger.bundle(VIN, GENUINE, ISSUERS, domain_ruleset(), requested=by_command)
    status, out = run(tmp_path, capsys, document, *pins(genuine))
    assert status == 0 and "  Requested by: organisation examiners, a command" in out
    unconfigured = {**by_command, "requested_by": {"organization": None, "user": None}}  # no command organisation
    document = ledger.bundle(VIN, GENUINE, ISSUERS, domain_ruleset(), requested=unconfigured)
    status, out = run(tmp_path, capsys, document, *pins(genuine))
    assert status == 0 and "  Requested by: organisation not recorded, a command" in out
    older = ledger.bundle(VIN, GENUINE, ISSUERS, domain_ruleset(), requested={})
    status, out = run(tmp_path, capsys, older, *pins(genuine))
    assert status == 0
    assert "  Verification time: not recorded" in out and "  Requested by: not recorded" in out


def test_a_malformed_verified_at_or_requested_by_fails(genuine):
    ledger = genuine[0]
    odd = {"verified_at": "2026-12-07 10:00", "requested_by": {"organization": "examiners"}}
    document = ledger.bundle(VIN, GENUINE, ISSUERS, domain_ruleset(), requested=odd)
    lines = [failure.line for failure in bundle_30d.verify(document).failures]
    assert lines == [
        "verdict: verified_at: '2026-12-07 10:00' is not an RFC 3339 UTC time",
        "verdict: requested_by is not {organization: slug, user: username or null}",
    ]


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["--log-key", "not-a-key"],
        ["--log-key", "offline.test/ledger+00000000+AQ=="],
        ["--witness", "witness.example/a+0000+BA=="],
        ["--witnesses-required", "1"],  # more than the none pinned
        ["--witnesses-required", "x"],
    ],
)
def test_malformed_keys_and_arguments_exit_2(genuine, tmp_path, capsys, arguments):
    status, out = run(tmp_path, capsys, genuine[2], *arguments)
    assert status == 2 and "VERIFIED" not in out


def test_a_file_that_is_not_a_bundle_exits_2(tmp_path, capsys):
    status, out = run(tmp_path, capsys, "not json", "--log-key", OfflineLedger().verifier)
    assert status == 2 and "not a Cairn proof bundle" in out
    assert verify_cli.main([]) == 2


def test_the_installed_cairn_verify(genuine, tmp_path):
    ledger, witnesses, document = genuine
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(document))
    executable = Path(sys.executable).parent / "cairn-verify"
    done = subprocess.run([str(executable), str(path), *pins(genuine, *witnesses)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VERIFIED: every entry is signed" in done.stdout
    done = subprocess.run([str(executable), str(path)], capture_output=True, text=True)
    assert done.returncode == 3 and "VERIFIED" not in done.stdout.upper()


# --- --report --------------------------------------------------------------------------------


def run_report(tmp_path, capsys, document: object, *arguments: str) -> tuple[int, str]:
    path = tmp_path / "report.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    status = verify_cli.main(["--report", str(path), *arguments])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_the_genuine_report_verifies_alone(genuine, tmp_path, capsys):
    ledger, _witnesses, document = genuine
    ruleset = domain_ruleset()
    for report in (document["verdict"]["report"], document["verdict"]):  # the envelope, or a whole verdict
        status, out = run_report(tmp_path, capsys, report, "--log-key", ledger.verifier)
        assert status == 0, out
        assert f"  VIN {VIN}, claim entry {CLAIM_INDEX}, verification 1" in out
        assert "Verdict (signed): credit $3,750, integrity intact" in out
        assert f"  Rules: {ruleset.version} (SHA-256 {ruleset_json.digest(ruleset)})" in out
        assert "  Verification time: 2026-12-07T10:00:00Z" in out
        assert "  Requested by: organisation examiners, user alice" in out
        assert out.splitlines()[-1].startswith("VERIFIED: the report is signed by the pinned log key")


def test_a_forged_report_fails_under_the_genuine_key(genuine, forged, tmp_path, capsys):
    ledger = genuine[0]
    forger, document = forged
    status, out = run_report(tmp_path, capsys, document["verdict"]["report"], "--log-key", ledger.verifier)
    assert status == 1
    assert f"not the pinned log key's {ledger.log_keyid}" in out and forger.log_keyid in out
    report = copy.deepcopy(genuine[2]["verdict"]["report"])
    signature = bytearray(base64.b64decode(report["signatures"][0]["sig"]))
    signature[0] ^= 0x01
    report["signatures"][0]["sig"] = _b64(signature)
    status, out = run_report(tmp_path, capsys, report, "--log-key", ledger.verifier)
    assert status == 1 and "does not verify" in out


def test_a_report_of_the_wrong_shape_fails_even_when_signed(genuine, tmp_path, capsys):
    ledger, _witnesses, document = genuine
    body = {key: value for key, value in document["verdict"].items() if key != "report"}
    body = {**body, "credit_usd": "5000"}
    from cairn_core.regimes.s30d import verdict as verdicts

    report = dsse.sign(verdicts.REPORT_TYPE, verdicts.report_payload(body), [(ledger.log_keyid, ledger.log_key)])
    status, out = run_report(tmp_path, capsys, report.to_stored(), "--log-key", ledger.verifier)
    assert status == 1 and "credit_usd is '5000', not one of 7500, 3750, 0" in out


def test_a_report_with_no_key_is_unanchored_and_not_json_is_2(genuine, tmp_path, capsys):
    ledger, _witnesses, document = genuine
    status, out = run_report(tmp_path, capsys, document["verdict"]["report"])
    assert status == 3 and "VERIFIED" not in out.upper() and ledger.log_keyid in out
    status, out = run_report(tmp_path, capsys, "{not json", "--log-key", ledger.verifier)
    assert status == 2 and "not JSON" in out
    status, _out = run_report(tmp_path, capsys, {"vin": VIN}, "--log-key", ledger.verifier)
    assert status == 2
