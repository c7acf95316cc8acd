"""The verdict page states what the verdict covers, under which rules and by which method."""

from __future__ import annotations

import html
import re

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
    """So that "$7,500" never reads as the credit allowed (IRC §30D's other requirements)."""
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
    names = {
        "critical_minerals": "Critical minerals",
        "battery_components": "Battery components",
        "foreign_entity_of_concern": "Foreign entity of concern",
        "final_assembly": "Final assembly in North America",
        "credit_in_force": "Credit in force",
    }
    assert set(applied["requirements"]) == set(names)
    for code, basis in applied["requirements"].items():
        status = basis["status"].replace("_", " ")
        row = f'<tr id="cairn-basis-{code}" class="cairn-status-{basis["status"]}">'
        assert f"{row}<td>{names[code]}</td><td>{status}</td>" in text
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


def test_the_rules_applied_name_things_in_words_not_codes(page):
    """The "Rules applied" section reads as the rest of the page: names, not the verdict's codes."""
    verification, text = page
    section = text.split('id="cairn-applied"', 1)[1].split('id="cairn-problems"', 1)[0]
    shown = re.sub(r"<[^>]+>", " ", section)
    codes = set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", shown))
    assert codes == set(), codes
    country = verification.claim.final_assembly_country
    assert f"final assembly in {country.name} ({country.code})" in shown
    row = verification.verdict["applied"]["schedule_row"]
    if row["source"].startswith("https://"):
        assert f'(schedule: <a href="{row["source"]}">its source</a>)' in section
    else:
        assert f"(schedule: {row['source']})" in shown


def test_every_credit_amount_on_the_pages_has_thousands_separators(page, auditor_client):
    verification, text = page
    assert 'id="cairn-credit">$7,500<' in text
    claim_page = auditor_client.get(reverse("admin:provenance_claim_change", args=[VIN])).content.decode()
    listed = auditor_client.get(reverse("admin:provenance_claim_changelist")).content.decode()
    for shown in (claim_page, listed):
        assert ">$7,500<" in shown and "$7500" not in shown
