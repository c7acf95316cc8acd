"""The entry page says whether the payload it shows is the signed one."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.support import logged_in

pytestmark = pytest.mark.django_db


def test_the_entry_page_says_whether_its_payload_is_the_signed_one(tampered, auditor_user):
    _incident, _first, _second, origin = tampered
    client = logged_in(auditor_user)
    changed = client.get(reverse("admin:provenance_entry_change", args=[origin])).content.decode()
    assert "Not the signed payload." in changed and "signature by key" in changed
    intact = client.get(reverse("admin:provenance_entry_change", args=[origin + 1])).content.decode()
    assert "Signed: every signature verifies over these stored bytes" in intact
    assert "Not the signed payload." not in intact
