"""GET /api/v1/incidents and integrity_warnings (contract §5, v1.2), and the
auditors' response to an incident."""

from __future__ import annotations

import re

import pytest

from audit import checks, incidents
from audit.engine import verify_claim
from audit.models import IntegrityIncident
from provenance import checkpoints
from provenance.models import Entry
from tests.support import TAMPERED_OTHER, TAMPERED_VIN, claim, raise_value, simple_chain, tamper_envelope

VIN, OTHER = TAMPERED_VIN, TAMPERED_OTHER


def test_incidents_are_listed_in_the_contracts_shape(api, auditor, tampered):
    incident, first, _second, origin = tampered
    response = api.get("/api/v1/incidents?state=open", **auditor.auth)
    assert response.status_code == 200
    (listed,) = [item for item in response.json()["incidents"] if item["id"] == incident.id]
    assert list(listed) == ["id", "detected_at", "state", "code", "message", "index", "consequences"]
    assert listed["state"] == "open" and listed["index"] == origin
    assert listed["consequences"] == {"claims": [VIN], "verifications": [first.id]}
    assert listed["message"].startswith(f"entry #{origin} altered after logging: ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", listed["detected_at"])
    assert api.get("/api/v1/incidents?state=resolved", **auditor.auth).json() == {"incidents": []}


def test_a_bad_state_or_a_non_auditor_is_refused(api, auditor, miner, tampered):
    bad = api.get("/api/v1/incidents?state=closed", **auditor.auth)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    assert api.get("/api/v1/incidents", **miner.auth).json()["error"]["code"] == "role_not_allowed"


def test_the_undermined_verdict_carries_the_warning_and_the_other_does_not(api, auditor, tampered):
    incident, first, second, _origin = tampered
    assert api.get(f"/api/v1/verifications/{first.id}", **auditor.auth).json()["integrity_warnings"] == [incident.id]
    assert api.get(f"/api/v1/verifications/{second.id}", **auditor.auth).json()["integrity_warnings"] == []


def test_acknowledging_and_resolving_record_who_when_and_why(tampered, django_user_model):
    incident = tampered[0]
    from audit.auditors import create_auditor

    auditor_user = create_auditor("auditor-a", password="x")
    incidents.respond(incident.pk, acting_user=auditor_user, to="acknowledged", comment="looking into it")
    incident.refresh_from_db()
    assert (incident.state, incident.acknowledged_by, incident.acknowledge_comment) == (
        "acknowledged",
        auditor_user,
        "looking into it",
    )
    assert incident.acknowledged_at is not None
    incidents.respond(incident.pk, acting_user=auditor_user, to="resolved", comment="restored entry from backup")
    incident.refresh_from_db()
    assert (incident.state, incident.resolved_by, incident.resolve_comment) == (
        "resolved",
        auditor_user,
        "restored entry from backup",
    )
    with pytest.raises(incidents.ResponseRefused, match="resolved already"):
        incidents.respond(incident.pk, acting_user=auditor_user, to="acknowledged", comment="again")


def test_a_response_without_a_comment_or_by_other_staff_changes_nothing(tampered, django_user_model):
    incident = tampered[0]
    from audit.auditors import create_auditor

    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    with pytest.raises(incidents.ResponseRefused, match="Only auditors and superusers"):
        incidents.respond(incident.pk, acting_user=staff, to="resolved", comment="fine")
    with pytest.raises(incidents.ResponseRefused, match="comment is required"):
        incidents.respond(incident.pk, acting_user=create_auditor("a2", password="x"), to="resolved", comment="  ")
    incident.refresh_from_db()
    assert incident.state == "open" and incident.resolved_at is None and incident.resolve_comment == ""


LATER = "5YJ3E1EA0PF000004"


@pytest.fixture
def opened_on_a_pack_of_two(ledger, miner, refiner, maker):
    """A pack of two; one claimed and verified, then its ore entry changed and found."""
    pack = simple_chain(ledger, miner, refiner, maker, packs="2")
    claim(ledger, maker, pack, VIN)
    checkpoints.publish_checkpoint()
    first = verify_claim(VIN, requested_by=None)
    origin = Entry.objects.filter(type="origin").get().index
    tamper_envelope(origin, raise_value)
    checks.run_sweep()
    incident = IntegrityIncident.objects.get(suspect=f"entry #{origin}")
    assert incident.consequences["claims"] == [VIN]
    return incident, first, pack


def test_a_claim_appended_after_the_incident_is_added_at_the_next_check(
    api, auditor, ledger, maker, opened_on_a_pack_of_two
):
    incident, first, pack = opened_on_a_pack_of_two
    claim(ledger, maker, pack, LATER)
    checks.run_sweep()
    incident.refresh_from_db()
    assert incident.consequences["claims"] == [VIN, LATER]
    assert incident.message.endswith(f"claims {VIN} and {LATER}")
    later = verify_claim(LATER, requested_by=None)
    incident.refresh_from_db()
    assert later.id in incident.consequences["verifications"]
    body = api.get(f"/api/v1/verifications/{later.id}", **auditor.auth).json()
    assert body["integrity_warnings"] == [incident.id]
    listed = api.get("/api/v1/incidents?state=open", **auditor.auth).json()["incidents"]
    (shown,) = [item for item in listed if item["id"] == incident.id]
    assert shown["consequences"] == {"claims": [VIN, LATER], "verifications": sorted([first.id, later.id])}


def test_a_claim_verified_before_the_next_check_is_flagged_at_once(
    api, auditor, ledger, maker, opened_on_a_pack_of_two
):
    incident, _first, pack = opened_on_a_pack_of_two
    claim(ledger, maker, pack, LATER)
    later = verify_claim(LATER, requested_by=None)  # no periodic check in between
    body = api.get(f"/api/v1/verifications/{later.id}", **auditor.auth).json()
    assert body["integrity_warnings"] == [incident.id]


def test_a_resolved_incident_takes_no_new_claim(ledger, maker, opened_on_a_pack_of_two, django_user_model):
    from audit.auditors import create_auditor

    incident, _first, pack = opened_on_a_pack_of_two
    user = create_auditor("auditor-b", password="x")
    incidents.respond(incident.pk, acting_user=user, to="resolved", comment="restored from backup")
    claim(ledger, maker, pack, LATER)
    checks.run_sweep()
    incident.refresh_from_db()
    assert incident.consequences["claims"] == [VIN]
