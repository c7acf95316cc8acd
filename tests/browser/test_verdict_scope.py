"""An auditor reads, on the verdict page, what the verdict covers and which rules it applied."""

from __future__ import annotations

import pytest

from audit.auditors import create_auditor
from provenance import checkpoints
from tests.support import Ledger, make_party, mine_to_claim

VIN = "1CRNBRWSR00000013"
PASSWORD = "a-long-browser-password"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_verdict_page_shows_scope_rules_and_citations(live_server, page, screenshot):
    ledger = Ledger()
    miner = make_party("pilbara-mining", ["supplier"], country="AU")
    refiner = make_party("kansai-refining", ["supplier"], country="JP")
    maker = make_party("detroit-cells", ["manufacturer"], country="US")
    mine_to_claim(ledger, miner, refiner, maker, VIN)
    checkpoints.publish_checkpoint()
    create_auditor("auditor", password=PASSWORD)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "auditor")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/provenance/claim/")
    page.locator(f"button[data-vin='{VIN}']").click()
    page.wait_for_selector("#cairn-summary")

    assert page.inner_text("#cairn-credit") == "$7,500"
    assert page.locator("#cairn-scope-statement").is_visible()
    assert "It is not the credit allowed" in page.inner_text("#cairn-scope-statement")
    scope = page.inner_text("#cairn-scope")
    assert "IRC §30D(f)(11)" in scope and "IRC §30D(f)(10)" in scope and "IRC §30D(d)(1)(F)" in scope
    applied = page.inner_text("#cairn-applied")
    assert "acquired 2024-06-01, placed in service 2024-06-15" in applied
    assert "placed in service 2024-01-01 to 2024-12-31: critical minerals 50%, battery components 60%" in applied
    assert "the 50% value-added test (T.D. 9995's transition rule, through 2026-12-31)" in applied
    assert "not elected, not applied" in page.inner_text("#cairn-feoc-election")
    assert "IRC §30D(b)(2), (e)(1)" in page.inner_text("#cairn-basis-critical_minerals")
    assert "Public Law 119-21 §70502" in page.inner_text("#cairn-basis-credit_in_force")
    assert "battery_pack (not a battery component: not counted)" in page.inner_text("#cairn-components")
    screenshot(page, "07-verdict-scope-and-rules")
    assert page.javascript_errors == []
