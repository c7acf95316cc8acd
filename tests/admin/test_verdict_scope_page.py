"""The verdict page states what the verdict covers, under which rules and by which method."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from audit.models import Verification
from tests.admin.conftest import VIN

pytestmark = pytest.mark.django_db

VERIFY = reverse("admin:provenance_claim_verify", args=[VIN])


@pytest.fixture
def page(chain, auditor_client) -> tuple[Verification, str]:
    auditor_client.post(VERIFY)
    verification = Verification.objects.get()
    url = reverse("admin:audit_verification_change", args=[verification.pk])
    return verification, html.unescape(auditor_client.get(url).content.decode())


def test_the_scope_is_stated_next_to_the_credit_and_in_full(page):
    """So that "$7500" never reads as the credit allowed (IRC §30D's other requirements)."""
    verification, text = page
    assert verification.credit_usd == "7500"
    assert 'id="cairn-scope-statement"' in text
    assert "It is not the credit allowed" in text
    for item in verification.verdict["scope"]["not_checked"]:
        assert f"<td>{item['what']}</td><td>{item['citation']}</td>" in text
    assert "IRC §30D(f)(11)" in text and "IRC §30D(d)(1)(F)" in text


def test_the_rules_applied_are_shown_as_signed(page):
    verification, text = page
    applied = verification.verdict["applied"]
    assert f"acquired {applied['acquired']}, placed in service {applied['placed_in_service']}" in text
    row = applied["schedule_row"]
    assert (
        f"placed in service {row['placed_in_service_from']} to {row['placed_in_service_to']}: "
        f"critical minerals {row['critical_minerals_pct']}%, battery components {row['battery_components_pct']}%"
    ) in text
    assert f"<code>{verification.rules_version}</code>" in text
    assert applied["rules_version"] == verification.rules_version
    assert "the 50% value-added test (T.D. 9995's transition rule, through 2026-12-31)" in text
    for code, basis in applied["requirements"].items():
        assert f'<tr id="cairn-basis-{code}" class="cairn-status-{basis["status"]}"><td>{code}</td>' in text
        assert basis["citation"] in text
    assert "IRC §30D(h), as amended by Public Law 119-21 §70502" in text
    assert "not elected, not applied" in text


def test_the_pack_is_listed_but_not_counted(page):
    _verification, text = page
    assert "battery_pack (not a battery component: not counted)" in text


def test_the_amount_is_explained_in_one_sentence_and_the_scope_names_no_json_field(page):
    _verification, text = page
    explanation = "$7,500: critical minerals met (+$3,750); battery components met (+$3,750)"
    assert f'<dd id="cairn-explanation">{explanation}</dd>' in text
    scope = text.split('id="cairn-scope-statement">', 1)[1].split("<a ", 1)[0]
    assert "It is not the credit allowed" in scope
    for field in ("credit_usd", "'checked'", "'applied'", "'not_checked'"):
        assert field not in scope
