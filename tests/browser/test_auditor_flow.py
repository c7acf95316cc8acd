"""An auditor logs in, opens a claim, verifies it, reads the verdict and the graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.auditors import create_auditor
from audit.models import Verification
from provenance import checkpoints
from tests.support import Ledger, graph_nodes, make_party, mine_to_claim

VIN = "1CRNBRWSR00000001"
FEOC_VIN = "1CRNBRWSR00000002"
PASSWORD = "a-long-browser-password"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def claims():
    """A $7,500 chain (AU ore, JP refinery, US cells) and one with cells made in China."""
    ledger = Ledger()
    miner = make_party("pilbara-mining", ["supplier"], country="AU")
    refiner = make_party("kansai-refining", ["supplier"], country="JP")
    maker = make_party("detroit-cells", ["manufacturer"], country="US")
    feoc_maker = make_party("ningde-cells", ["manufacturer"], country="CN")
    mine_to_claim(ledger, miner, refiner, maker, VIN)
    mine_to_claim(ledger, miner, refiner, feoc_maker, FEOC_VIN)
    checkpoints.publish_checkpoint()
    create_auditor("auditor", password=PASSWORD)


def log_in(page, live_server):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "auditor")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#cairn-desk")


def test_auditor_verifies_a_claim(claims, live_server, page, screenshot):
    log_in(page, live_server)
    screenshot(page, "01-admin-index")

    page.click("#cairn-desk >> text=Claims and their verdicts")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list").get_by_text(VIN).count() == 1
    assert page.locator("#result_list").get_by_text("not verified").count() == 2
    screenshot(page, "02-claims")

    page.locator("#result_list").get_by_role("link", name=VIN).click()
    assert graph_nodes(page) == 5  # ore, hydroxide, cells, pack and the vehicle
    assert page.locator("#cairn-graph canvas").count() > 0
    screenshot(page, "03-claim-with-graph")

    page.click("#cairn-verify")
    page.wait_for_selector("#cairn-summary")
    assert page.inner_text("#cairn-credit") == "$7,500"
    requirements = page.inner_text("#cairn-requirements")
    assert "qualifying content 100.00%, required 50%" in requirements
    assert "North American content 100.00%, required 60%" in requirements
    assert page.locator("#cairn-agreements a", has_text="us-au-fta").count() == 1
    assert graph_nodes(page) == 5
    colours = page.evaluate("window.cairnGraph.nodes().map(n => n.data('colour'))")
    assert {"qualifying", "component", "vehicle"} <= set(colours)
    screenshot(page, "04-verdict")

    with page.expect_download() as download:
        page.click("#cairn-download-report")
    report = json.loads(Path(download.value.path()).read_text())
    assert report["payloadType"] == "application/vnd.cairn.verification+json"
    assert Verification.objects.get().credit_usd == "7500"
    assert page.javascript_errors == []


def test_auditor_sees_why_a_claim_fails_and_the_integrity_dashboard(claims, live_server, page, screenshot):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/provenance/claim/")
    page.locator(f"button[data-vin='{FEOC_VIN}']").click()
    page.wait_for_selector("#cairn-summary")
    assert page.inner_text("#cairn-credit") == "$0"
    assert "foreign_entity_of_concern" in page.inner_text("#cairn-problems")
    assert "feoc" in page.evaluate("window.cairnGraph.nodes().map(n => n.data('colour'))")
    screenshot(page, "05-verdict-feoc")

    page.goto(f"{live_server.url}/admin/")
    page.click("#cairn-desk >> text=Ledger integrity")
    page.wait_for_selector("#cairn-latest-checkpoint")
    assert "verifies with the ledger key" in page.inner_text("#cairn-latest-checkpoint")
    page.click("#cairn-check-now")
    page.wait_for_selector("#cairn-runs table")
    assert "incremental" in page.inner_text("#cairn-runs")
    screenshot(page, "06-integrity")
    assert page.javascript_errors == []
