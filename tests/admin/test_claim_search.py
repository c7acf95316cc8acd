"""Claims found by a supplier or a batch in their supply chain, and filtered by their latest verdict."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit import claim_search
from tests.admin.conftest import VIN

pytestmark = pytest.mark.django_db

CLAIMS = reverse("admin:provenance_claim_changelist")


def listed(client, **query) -> bool:
    page = client.get(CLAIMS, query).content.decode()
    return f">{VIN}</a>" in page


@pytest.mark.parametrize("term", ["Pilbara", "kansai-refining", "Detroit Cells", "detroit", VIN[-5:]])
def test_a_supplier_anywhere_upstream_or_the_manufacturer_finds_the_vehicle(chain, auditor_client, term):
    assert listed(auditor_client, q=term)


def test_the_ore_batch_finds_the_vehicle_made_from_it(chain, auditor_client):
    assert claim_search.vins_containing(chain["ore"]) == {VIN}
    assert listed(auditor_client, q=chain["ore"])


def test_a_term_in_no_supply_chain_finds_nothing(chain, auditor_client):
    assert claim_search.vins_containing("ochang") == set()
    assert claim_search.vins_containing("  ") == set()
    assert not listed(auditor_client, q="ochang")


def test_claims_filter_by_latest_credit_and_integrity(chain, auditor_client):
    assert listed(auditor_client, credit="none")
    assert not listed(auditor_client, credit="7500")
    auditor_client.post(reverse("admin:provenance_claim_verify", args=[VIN]))
    assert listed(auditor_client, credit="7500") and listed(auditor_client, integrity="intact")
    assert not listed(auditor_client, credit="3750")
    assert not listed(auditor_client, integrity="broken")
    assert not listed(auditor_client, credit="none")
