"""`manage.py load_demo`: a realistic chain whose claims get the intended verdicts."""

from __future__ import annotations

import io
import json
import stat
from collections import Counter

import pytest
from django.core.management import call_command

from audit.models import Verification
from provenance import demo
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
    assert Checkpoint.objects.get().tree_size == Entry.objects.count()


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
