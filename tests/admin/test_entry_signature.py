"""The entry page says whether the payload it shows is the signed one."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.admin.conftest import logged_in
from tests.admin.test_incidents_admin import found  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def test_the_entry_page_says_whether_its_payload_is_the_signed_one(found, auditor_user):  # noqa: F811
    _incident, _first, _second, origin = found
    client = logged_in(auditor_user)
    changed = client.get(reverse("admin:provenance_entry_change", args=[origin])).content.decode()
    assert "Not the signed payload." in changed and "signature by key" in changed
    intact = client.get(reverse("admin:provenance_entry_change", args=[origin + 1])).content.decode()
    assert "Signed: every signature verifies over these stored bytes" in intact
    assert "Not the signed payload." not in intact
