"""`manage.py verify_claim VIN`: stores a verification and prints it."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import CommandError, call_command

from audit.models import Verification
from provenance.models import ImmutableRecord
from tests.support import claim, simple_chain

VIN = "5YJ3E1EA0PF000020"


def test_prints_each_requirement_and_the_credit(ledger, miner, refiner, maker, capsys):
    pack = simple_chain(ledger, miner, refiner, maker, cells_country="KR")
    row = claim(ledger, maker, pack, VIN)
    call_command("verify_claim", VIN, "--detail")
    lines = capsys.readouterr().out.splitlines()
    verification = Verification.objects.get()
    # A command names no user; with no auditor organisation in the ledger, none.
    when = verification.verdict["verified_at"]
    assert lines[:14] == [
        f"Verification #{verification.pk} of VIN {VIN} (claim entry {row.entry_id})",
        "  placed in service 2024-06-15, acquired 2024-06-01, final assembly in US",
        f"  verified at {when} for no organisation (a command, no user)",
        "  integrity: intact",
        "  critical minerals:         met: 100.00% qualifying, 50% required",
        "  battery components:        NOT met: 0.00% North American, 60% required",
        "  foreign entity of concern: met",
        "  final assembly:            met",
        "  credit in force:           met",
        "  agreements relied on: us-au-fta, us-japan-cma",
        "  problems: 1",
        f"    index {row.entry_id}: [battery_components] North American battery component "
        "content 0.00% is below the required 60%",
        f"  checkpoint: tree size {row.entry_id + 1}",
        "  credit: $3,750",
    ]
    assert "1900 (60 kg; extraction in AU 1000, 100.00% qualifying" in "\n".join(lines[14:])


def test_json_is_the_stored_verdict(ledger, miner, refiner, maker, capsys):
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    call_command("verify_claim", VIN, "--json")
    printed = json.loads(capsys.readouterr().out)
    assert printed == Verification.objects.get().as_verdict()
    assert printed["credit_usd"] == "7500"


def test_unknown_vin_is_an_error(db):
    with pytest.raises(CommandError, match="No claim for VIN"):
        call_command("verify_claim", "5YJ3E1EA0PF999999")


def test_a_verification_is_never_changed(ledger, miner, refiner, maker):
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    call_command("verify_claim", VIN, "--json")
    verification = Verification.objects.get()
    assert verification.report["signatures"]
    with pytest.raises(ImmutableRecord):
        verification.save()
    with pytest.raises(ImmutableRecord):
        verification.delete()
    with pytest.raises(ImmutableRecord):
        Verification.objects.update(credit_usd="0")
    assert Verification.objects.seal(verification.pk, {"forged": True}) == 0


def test_prints_not_applicable_requirements_and_the_scope(ledger, miner, refiner, maker, capsys):
    """Placed in service 2023-04-17: neither requirement applies yet (IRA §13401(k)(3)),
    nor the FEOC restrictions (IRC §30D(d)(7), from 2024)."""
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN, acquired="2023-04-01", placed_in_service="2023-04-17")
    call_command("verify_claim", VIN)
    lines = capsys.readouterr().out.splitlines()
    assert lines[4] == "  critical minerals:         not applicable: 100.00% qualifying, no percentage applies"
    assert lines[5].startswith("  battery components:        not applicable: 100.00% North American")
    assert lines[6] == "  foreign entity of concern: not applicable"
    assert lines[-2] == "  credit: $7,500"
    assert lines[-1].startswith("  scope: not the credit allowed; not checked: msrp_limit, income_limit,")


def test_a_command_names_the_ledgers_auditor_organisation_and_no_user(ledger, miner, refiner, maker, auditor, capsys):
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    call_command("verify_claim", VIN, "--json")
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["requested_by"] == {"organization": auditor.org.slug, "user": None}
    # The same in the signed report.
    signed = json.loads(base64.b64decode(verdict["report"]["payload"]))
    assert signed["requested_by"] == verdict["requested_by"] and signed["verified_at"] == verdict["verified_at"]


def test_a_command_refuses_an_organisation_that_is_not_an_auditor(ledger, miner, refiner, maker):
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    with pytest.raises(CommandError, match="not an auditor organisation"):
        call_command("verify_claim", VIN, "--organization", maker.org.slug)
    assert not Verification.objects.exists()
