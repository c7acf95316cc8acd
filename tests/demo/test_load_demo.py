"""`manage.py load_demo`: a realistic chain whose claims get the intended verdicts."""

from __future__ import annotations

import datetime as dt
import io
import json
import stat
from collections import Counter

import pytest
from django.core.management import call_command

from audit.models import Verification
from demo import data as demo
from provenance.models import Batch, Checkpoint, Claim, Entry, Organization

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("load_demo", "--verify", stdout=out)
    return out.getvalue(), tmp_path / "demo"


def test_every_claim_gets_its_intended_verdict(loaded):
    verdicts = {v.claim_id: v for v in Verification.objects.all()}
    assert len(demo.CLAIMS) >= 12
    assert {spec.vin: verdicts[spec.vin].credit_usd for spec in demo.CLAIMS} == {
        spec.vin: spec.expected_credit for spec in demo.CLAIMS
    }
    assert all(verification.integrity == "intact" for verification in verdicts.values())


def failed(verification: Verification) -> set[str]:
    return {problem["code"] for problem in verification.verdict["problems"]}


def test_the_verdicts_cover_full_half_and_no_credit_for_different_reasons(loaded):
    verifications = list(Verification.objects.all())
    credits = Counter(verification.credit_usd for verification in verifications)
    assert credits["7500"] >= 3 and credits["3750"] >= 3 and credits["0"] >= 3
    half = {frozenset(failed(v)) for v in verifications if v.credit_usd == "3750"}
    assert {frozenset({"critical_minerals"}), frozenset({"battery_components"})} <= half
    none = set().union(*(failed(v) for v in verifications if v.credit_usd == "0"))
    assert {"final_assembly", "credit_in_force", "foreign_entity_of_concern"} <= none
    feoc_kinds = {
        problem["message"].split(" activity")[0]
        for v in verifications
        for problem in v.verdict["problems"]
        if problem["code"] == "foreign_entity_of_concern"
    }
    assert feoc_kinds == {"components", "minerals"}


def test_the_chain_is_realistic(loaded):
    countries = {
        mineral: {
            str(country)
            for country, minerals in Batch.objects.filter(minerals__has_key=mineral).values_list(
                "site_country", "minerals"
            )
        }
        for mineral in ("lithium", "nickel", "cobalt", "manganese", "graphite")
    }
    assert countries == {
        "lithium": {"AU", "CL", "AR"},
        "nickel": {"CA", "ID"},
        "cobalt": {"AU", "CD"},
        "manganese": {"AU", "ZA"},
        "graphite": {"MZ", "CA", "CN"},
    }
    components = set(Batch.objects.exclude(component="").values_list("component", flat=True))
    assert {
        "cathode_electrode",
        "anode_electrode",
        "battery_cell",
        "battery_module",
        "battery_pack",
    } <= components
    cell_countries = set(Batch.objects.filter(component="battery_cell").values_list("site_country", flat=True))
    assert {str(code) for code in cell_countries} == {"US", "MX", "KR", "CN"}
    assert Claim.objects.filter(placed_in_service__year=2023).exists()
    assert Claim.objects.filter(placed_in_service__year=2025).exists()
    # The first checkpoint covers every attestation and every ledger entry logged
    # with them; the verdicts, logged when the claims were verified against it,
    # follow, and the last checkpoint covers them too.
    first, last = Checkpoint.objects.order_by("tree_size")
    verdicts = Entry.objects.filter(type="ledger", statement__type="verdict")
    assert verdicts.count() == Verification.objects.count() > 0
    assert first.tree_size == Entry.objects.count() - verdicts.count()
    assert last.tree_size == Entry.objects.count()
    assert set(Entry.objects.filter(index__gte=first.tree_size)) == set(verdicts)


def test_files_logins_and_instructions(loaded, django_user_model):
    output, directory = loaded
    tokens = json.loads((directory / "tokens.json").read_text())
    assert set(tokens) == set(Organization.objects.values_list("slug", flat=True))
    for path in [directory / "tokens.json", *(directory / "keys").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(list((directory / "keys").glob("*.pem"))) == len(tokens)
    envelope = json.loads((directory / "next-attestation.json").read_text())
    assert set(envelope) == {"payloadType", "payload", "signatures"}
    assert django_user_model.objects.get(username=demo.ADMIN_USERNAME).is_superuser
    auditor = django_user_model.objects.get(username=demo.AUDITOR_USERNAME)
    assert auditor.has_perm("audit.run_verification") and not auditor.is_superuser
    assert f"curl -H 'Authorization: Token {tokens['greenbushes-lithium']}'" in output
    assert "/api/v1/attestations" in output and "/api/docs/" in output
    assert demo.AUDITOR_PASSWORD in output
    assert f"/admin/provenance/batch/macr/?year={demo.MACR_YEAR}" in output


def test_loading_twice_changes_nothing(loaded):
    before = Entry.objects.count()
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert "already loaded" in out.getvalue()
    assert Entry.objects.count() == before


def test_the_presigned_statement_posts(loaded, client):
    _output, directory = loaded
    token = json.loads((directory / "tokens.json").read_text())["greenbushes-lithium"]
    response = client.post(
        "/api/v1/attestations",
        (directory / "next-attestation.json").read_bytes(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 201, response.content
    assert Batch.objects.get(id=demo.SPARE_BATCH).custodian_id == "kansai-refining"


def test_the_claims_are_verified_at_load_by_the_loading_command(settings, tmp_path):
    """The load-time verdicts name the command (no user) and the auditors'
    organisation, not the demo auditor, who asked for none of them."""
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("load_demo", stdout=out)  # no --verify
    verifications = Verification.objects.select_related("requested_by", "organization")
    assert sorted(v.claim_id for v in verifications) == sorted(spec.vin for spec in demo.CLAIMS)
    assert {v.requested_by for v in verifications} == {None}
    (auditors,) = {v.organization.slug for v in verifications}
    assert {json.dumps(v.verdict["requested_by"], sort_keys=True) for v in verifications} == {
        json.dumps({"organization": auditors, "user": None}, sort_keys=True)
    }
    assert "Verified the demo claims:" in out.getvalue()
    # The logins come last, after the verdicts.
    assert out.getvalue().index(demo.AUDITOR_PASSWORD) > out.getvalue().index("Verified the demo claims:")


def test_each_entry_is_submitted_by_its_organisations_api_user(loaded):
    attestations = Entry.objects.exclude(type="ledger")
    assert attestations.exists()
    missing = attestations.filter(submitted_by__isnull=True).count()
    assert missing == 0
    # Ledger entries are the ledger's own (contract §12): no issuer, no API user.
    ledger = Entry.objects.filter(type="ledger")
    assert ledger.exists()
    assert not ledger.filter(submitted_by__isnull=False).exists()
    assert not ledger.filter(issuer__isnull=False).exists()
    entry = Entry.objects.filter(issuer_id="greenbushes-lithium").first()
    assert entry.submitted_by.member.organization_id == "greenbushes-lithium"


def test_every_claim_has_its_story():
    for spec in demo.CLAIMS:
        assert f"Expected ${int(spec.expected_credit):,}: {spec.why}." in demo.story(spec.vin)
    assert demo.story("1HGCM82633A004352") == ""


def test_ending_the_us_japan_agreement_changes_the_japanese_claim(loaded):
    from audit.impact import engine_evaluator, impact_of_termination

    impact = impact_of_termination("us-japan-cma", dt.date(2024, 1, 1), evaluate=engine_evaluator())
    changed = {claim.vin: (claim.before["credit_usd"], claim.after["credit_usd"]) for claim in impact.claims}
    assert changed == {"1RVM24J60JP000101": ("7500", "3750")}


def test_the_instructions_can_be_left_out_and_printed_alone(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("load_demo", "--no-instructions", stdout=out)
    assert "Verified the demo claims:" in out.getvalue()
    assert demo.AUDITOR_PASSWORD not in out.getvalue()
    entries = Entry.objects.count()
    alone = io.StringIO()
    call_command("load_demo", "--instructions-only", "--base-url", "http://127.0.0.1:8123/", stdout=alone)
    assert Entry.objects.count() == entries  # nothing loaded or verified again
    assert "Verified" not in alone.getvalue()
    assert f"auditor     {demo.AUDITOR_USERNAME} / {demo.AUDITOR_PASSWORD}" in alone.getvalue()
    assert "http://127.0.0.1:8123/admin/" in alone.getvalue()
    token = json.loads((tmp_path / "demo" / "tokens.json").read_text())["greenbushes-lithium"]
    assert token in alone.getvalue()
