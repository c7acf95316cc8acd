"""The auditor's side of an incident: the red banner, the incident's page with
its consequences and the response form, the warnings on the verdicts it
undermines, and the entry page that no longer calls a changed payload signed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.support import TAMPERED_OTHER, TAMPERED_VIN, logged_in

pytestmark = pytest.mark.django_db
VIN, OTHER = TAMPERED_VIN, TAMPERED_OTHER


def test_the_admin_home_is_red_while_an_incident_is_unresolved(tampered, auditor_user):
    incident = tampered[0]
    client = logged_in(auditor_user)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="cairn-incident-banner"' in page and "1 unresolved incident (1 open)" in page
    incident.state = "resolved"
    incident.save()
    assert 'id="cairn-incident-banner"' not in client.get(reverse("admin:index")).content.decode()


def test_an_auditor_acknowledges_then_resolves_an_incident_on_its_page(tampered, auditor_user):
    incident, first, _second, origin = tampered
    client = logged_in(auditor_user)
    url = reverse("admin:audit_integrityincident_change", args=[incident.pk])
    page = client.get(url).content.decode()
    assert f"entry #{origin} altered after logging" in page
    assert f'verdict <a href="{reverse("admin:audit_verification_change", args=[first.pk])}">#{first.pk}</a>' in page
    assert 'id="cairn-incident-respond"' in page
    respond = reverse("admin:audit_integrityincident_respond", args=[incident.pk])
    refused = client.post(respond, {"to": "acknowledged", "comment": ""}, follow=True)
    assert "a comment is required" in refused.content.decode()
    client.post(respond, {"to": "acknowledged", "comment": "Asked the DBA who ran the update."})
    client.post(respond, {"to": "resolved", "comment": "Row restored from the backup of 02:00."})
    incident.refresh_from_db()
    assert incident.state == "resolved" and incident.resolved_by == auditor_user
    page = client.get(url).content.decode()
    assert "Acknowledged" in page and "Asked the DBA who ran the update." in page
    assert "Row restored from the backup of 02:00." in page and 'id="cairn-incident-respond"' not in page


def test_staff_without_the_permission_cannot_respond(tampered, staff_viewer):
    incident = tampered[0]
    client = logged_in(staff_viewer)
    respond = reverse("admin:audit_integrityincident_respond", args=[incident.pk])
    client.post(respond, {"to": "resolved", "comment": "nothing to see"})
    incident.refresh_from_db()
    assert incident.state == "open"


def test_the_undermined_verdict_and_claim_are_flagged_and_the_other_is_not(tampered, auditor_user):
    incident, first, second, _origin = tampered
    client = logged_in(auditor_user)
    undermined = client.get(reverse("admin:audit_verification_change", args=[first.pk])).content.decode()
    assert 'id="cairn-integrity-warnings"' in undermined and f"Incident {incident.pk}</a>" in undermined
    intact = client.get(reverse("admin:audit_verification_change", args=[second.pk])).content.decode()
    assert 'id="cairn-integrity-warnings"' not in intact
    listing = client.get(reverse("admin:provenance_claim_changelist")).content.decode()
    assert listing.count("rests on a row under open integrity incident") == 1
    incident_url = reverse("admin:audit_integrityincident_change", args=[incident.pk])
    assert f'open integrity incident <a href="{incident_url}">#{incident.pk}</a>' in listing
