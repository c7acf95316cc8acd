"""An integrity incident as the auditor meets it, on the demo data at 1440 px.

One byte of an old entry (the origin of run A24's ore) is changed behind
the ledger's back and the periodic sweep finds it. Then, in chromium: the
red banner on the admin home; the incident's page naming the altered entry
and what rests on it, each a link; the verdict and the claims list
flagging the claim; the entry page saying the payload it shows is not the
signed one (and, of an intact entry, that it is); the auditor
acknowledging and the superuser resolving it, each with a comment, their
name and the time; the banner gone once none is unresolved. Every page is
checked with axe-core (WCAG 2 A and AA); screenshots go to
test-artifacts/browser/incident-*.png.
"""

from __future__ import annotations

import re

import pytest

from audit import checks
from audit.models import IntegrityIncident, Verification
from provenance.models import Batch, Claim, Entry
from provenance.selectors import upstream_graph
from tests.browser.axe import axe_violations
from tests.support import change_envelope_byte, log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

US_VIN = "1RVM24A10PS000201"  # run A24: $7,500 before the change
ORE = "greenbushes-lithium:ORE-A24"
RED = "rgb(164, 22, 26)"  # the banner's background (auditor.css)
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


@pytest.fixture
def incident(demo_data):
    """The ore's origin entry changed by one byte and found by the sweep; the verdict before it."""
    altered = Batch.objects.get(id=ORE).created_by_id
    before = Verification.objects.filter(claim_id=US_VIN).order_by("-id").first()
    change_envelope_byte(altered)
    assert checks.run_sweep()
    found = IntegrityIncident.objects.get(suspect=f"entry #{altered}")
    return found, altered, before


def fits(page) -> None:
    """Nothing wider than the 1440 px window, nothing failing axe-core."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1440, width
    assert axe_violations(page) == []


def test_an_open_incident_shows_a_red_banner_and_its_consequences(incident, live_server, page, screenshot):
    found, altered, before = incident
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/")
    banner = page.locator("#cairn-incident-banner")
    assert banner.inner_text().startswith("Ledger integrity: 1 unresolved incident (1 open).")
    assert banner.evaluate("node => getComputedStyle(node).backgroundColor") == RED
    fits(page)
    screenshot(page, "incident-home")

    banner.locator("a").click()
    page.locator("#result_list a", has_text=str(found.pk)).first.click()
    page.wait_for_selector("#cairn-incident")
    message = page.inner_text("#cairn-incident-message")
    assert message.startswith(f"entry #{altered} altered after logging: ")
    assert "signature fails" in message and US_VIN in message
    suspect = page.locator("#cairn-incident a", has_text=f"entry #{altered}").first
    assert suspect.get_attribute("href") == f"/admin/provenance/entry/{altered}/change/"
    rests = page.locator("#cairn-incident-consequences")
    # The next entry on the ore's batch signed the altered entry's hash: its chain is named.
    (chain,) = found.consequences["chains"]
    assert Entry.objects.get(index=chain).batch_links.filter(batch_id=ORE).exists()
    assert rests.locator(f"a[href='/admin/provenance/entry/{chain}/change/']").inner_text() == f"entry #{chain}"
    # Every claim whose upstream holds the ore, and each of their verdicts, with links.
    downstream = {claim.vin for claim in Claim.objects.all() if ORE in upstream_graph(claim.batch_id)[1]}
    assert US_VIN in downstream and set(found.consequences["claims"]) == downstream
    for vin in downstream:
        assert rests.locator(f"a[href='/admin/provenance/claim/{vin}/change/']").inner_text() == vin
    verdict = rests.locator(f"a[href='/admin/audit/verification/{before.pk}/change/']")
    assert verdict.inner_text() == f"#{before.pk}"
    assert f"on {US_VIN} ($7,500, intact)" in rests.inner_text()
    assert re.search(f"found {WHEN} by check_sweep", page.inner_text("#cairn-incident"))
    fits(page)
    screenshot(page, "incident-page")
    assert page.javascript_errors == []


def test_a_verdict_resting_on_the_suspect_says_so_on_its_page_and_in_the_claims_list(
    incident, live_server, page, screenshot
):
    found, altered, before = incident
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/audit/verification/{before.pk}/change/")
    warning = page.locator("#cairn-integrity-warnings")
    assert "This verdict rests on rows under open integrity incidents." in warning.inner_text()
    link = warning.locator("a", has_text=f"Incident {found.pk}")
    assert link.get_attribute("href") == f"/admin/audit/integrityincident/{found.pk}/change/"
    assert page.inner_text("#cairn-credit") == "$7,500"  # the figures as they were, now flagged
    fits(page)
    screenshot(page, "incident-verdict")
    page.screenshot(path=str(screenshot.directory / "incident-verdict-top.png"))  # the first screen

    page.goto(f"{live_server.url}/admin/provenance/claim/")
    row = page.locator("#result_list tr", has_text=US_VIN)
    assert f"rests on a row under open integrity incident #{found.pk}" in row.inner_text()
    flag = row.locator(".cairn-claim-warning a")
    assert flag.get_attribute("href") == f"/admin/audit/integrityincident/{found.pk}/change/"
    # The warning wraps within its column, clear of the filters beside the list.
    warned = row.locator(".cairn-claim-warning").bounding_box()
    filters = page.locator("#changelist-filter").bounding_box()
    assert warned["x"] + warned["width"] <= filters["x"], (warned, filters)
    assert page.evaluate("(r => r.scrollWidth <= r.clientWidth)(document.querySelector('#changelist .results'))")
    untouched = [vin for vin in Claim.objects.values_list("vin", flat=True) if vin not in found.consequences["claims"]]
    assert untouched  # the demo has claims on other ores: those are not flagged
    for vin in untouched:
        assert "integrity incident" not in page.locator("#result_list tr", has_text=vin).inner_text()
    fits(page)
    screenshot(page, "incident-claims")
    assert page.javascript_errors == []


def test_the_entry_page_says_whether_the_payload_it_shows_is_the_signed_one(incident, live_server, page, screenshot):
    _found, altered, _before = incident
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/provenance/entry/{altered}/change/")
    check = page.inner_text("#cairn-signature-check")
    assert check.startswith("Not the signed payload.") and "not what was signed and logged" in check
    assert "Signed:" not in check
    fits(page)
    screenshot(page, "incident-entry-altered")

    intact = Entry.objects.filter(type="origin").exclude(index=altered).order_by("index").first().index
    page.goto(f"{live_server.url}/admin/provenance/entry/{intact}/change/")
    check = page.inner_text("#cairn-signature-check")
    assert check.startswith("Signed: every signature verifies over these stored bytes")
    assert "in the signed checkpoint of size" in check
    fits(page)
    screenshot(page, "incident-entry-intact")
    assert page.javascript_errors == []


def test_acknowledged_by_the_auditor_and_resolved_by_the_superuser_the_banner_goes(
    incident, live_server, page, screenshot, django_user_model
):
    found, _altered, _before = incident
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/audit/integrityincident/{found.pk}/change/")
    assert page.inner_text("#cairn-incident-response") == "none yet"
    # A form inside the admin's own form would be dropped by the browser, its buttons submitting the other.
    assert page.evaluate("document.querySelector('#cairn-incident-respond').parentElement.closest('form')") is None
    page.fill("#cairn-incident-comment", "Comparing entry with the supplier's copy")
    page.click("button[form=cairn-incident-respond][value=acknowledged]")
    page.wait_for_selector(".messagelist")
    assert f"Incident {found.pk} acknowledged." in page.inner_text(".messagelist")
    response = page.inner_text("#cairn-incident-response")
    assert re.fullmatch(f"Acknowledged {WHEN} by auditor: Comparing entry with the supplier's copy", response)
    assert page.locator("button[form=cairn-incident-respond][value=acknowledged]").count() == 0
    fits(page)
    screenshot(page, "incident-acknowledged")
    page.goto(f"{live_server.url}/admin/")
    banner = page.inner_text("#cairn-incident-banner")
    assert banner.startswith("Ledger integrity: 1 unresolved incident (0 open).")  # acknowledged is not resolved
    page.click("#logout-form button")

    django_user_model.objects.create_superuser("lead", password="a-long-browser-password")
    log_in(page, live_server, "lead", "a-long-browser-password")
    page.goto(f"{live_server.url}/admin/audit/integrityincident/{found.pk}/change/")
    page.fill("#cairn-incident-comment", "Restored entry from the backup of 2026-12-01")
    page.click("button[form=cairn-incident-respond][value=resolved]")
    page.wait_for_selector(".messagelist")
    lines = page.inner_text("#cairn-incident-response").splitlines()
    assert re.fullmatch(f"Resolved {WHEN} by lead: Restored entry from the backup of 2026-12-01", lines[1])
    assert page.locator("#cairn-incident-respond").count() == 0  # resolved stays resolved
    found.refresh_from_db()
    assert (found.state, found.acknowledged_by.username, found.resolved_by.username) == ("resolved", "auditor", "lead")
    fits(page)
    screenshot(page, "incident-resolved")

    page.goto(f"{live_server.url}/admin/")
    assert page.locator("#cairn-incident-banner").count() == 0
    fits(page)
    screenshot(page, "incident-home-resolved")
    assert page.javascript_errors == []
