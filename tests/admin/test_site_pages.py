"""The site around the admin: the landing page, the admin's name, bad ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib import admin
from django.test import Client

from agreements.models import TradeAgreement
from audit.admin.agreements import AuditedTradeAgreementAdmin
from audit.admin.verdicts import AuditorClaimAdmin
from provenance.models import Claim

pytestmark = pytest.mark.django_db


def test_the_landing_page_names_cairn_and_leads_to_the_admin_and_the_api():
    response = Client().get("/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Cairn</h1>" in page
    assert 'href="/admin/"' in page and 'href="/api/docs/"' in page


def test_the_admin_is_headed_cairn_and_its_view_site_link_is_the_landing_page(auditor_client):
    page = auditor_client.get("/admin/").content.decode()
    assert "Cairn administration" in page
    assert '<a href="/">View site</a>' in page


@pytest.mark.parametrize("bad_id", ["abc", "1x", "-1", "99999999"])
def test_a_verdict_page_for_an_id_that_is_not_stored_is_a_404(auditor_client, bad_id):
    response = auditor_client.get(f"/admin/audit/verification/{bad_id}/change/")
    assert response.status_code == 404


def test_each_admin_page_is_registered_once_by_its_apps_admin_module():
    """No app swaps another's admin at start-up: the registry is what the admin modules declare."""
    assert type(admin.site.get_model_admin(Claim)) is AuditorClaimAdmin
    assert type(admin.site.get_model_admin(TradeAgreement)) is AuditedTradeAgreementAdmin
    root = Path(__file__).resolve().parents[2]
    sources = [path for app in ("agreements", "provenance", "audit", "config") for path in (root / app).rglob("*.py")]
    swaps = [path for path in sources if ".unregister(" in path.read_text().replace("selector.unregister(", "")]
    assert swaps == []
