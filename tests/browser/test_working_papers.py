"""The auditor's working papers and reading a verdict, on the demo data at 1440 px.

As the auditor: a verdict explained in one sentence, printed on one page and
downloaded as a one-page PDF; claims found by a supplier upstream and
exported as CSV; the what-if from an agreement's own page; the activity
log (as the superuser). Every page visited is checked against WCAG 2 A and
AA with axe-core (vendored from npm, injected by Playwright). Screenshots go
to test-artifacts/browser/papers-*.png.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from audit import verdict_pdf
from audit.models import Activity, Verification
from provenance.models import Batch, Claim
from provenance.selectors import upstream_graph
from tests.browser.axe import axe_violations
from tests.support import change_envelope_byte, log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

US_VIN = "1RVM24A10PS000201"  # run A24: $7,500


def pdf_text(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def verdict_of(vin: str) -> Verification:
    return Verification.objects.filter(claim_id=vin).order_by("-id").first()


def open_verdict(page, live_server, vin: str) -> Verification:
    verification = verdict_of(vin)
    page.goto(f"{live_server.url}/admin/audit/verification/{verification.pk}/change/")
    page.wait_for_selector("#cairn-summary")
    return verification


@pytest.mark.skipif(not verdict_pdf.available(), reason=verdict_pdf.MISSING)
def test_a_verdict_reads_in_one_sentence_prints_on_one_page_and_downloads_as_pdf(
    demo_data, live_server, page, screenshot
):
    log_in(page, live_server)
    verification = open_verdict(page, live_server, US_VIN)
    explanation = page.inner_text("#cairn-explanation")
    assert explanation.startswith(f"${int(verification.credit_usd):,}: ")
    assert "credit_usd" not in page.inner_text("#cairn-scope-statement")
    assert page.get_attribute("#cairn-graph", "role") == "img"
    assert "batches from" in page.get_attribute("#cairn-graph", "aria-label")
    assert axe_violations(page) == []
    screenshot(page, "papers-verdict")

    # Printing the page: one sheet, the graph whole on it.
    page.emulate_media(media="print")
    printed = page.pdf(format="A4", print_background=True)
    (printed_path := screenshot.directory / "papers-verdict-printed.pdf").write_bytes(printed)
    pages, text = pdf_text(printed)
    assert pages == 1, printed_path
    assert explanation in text
    # The graph prints as an image of the whole graph, scaled to the sheet.
    assert page.evaluate("document.getElementById('cairn-graph-print').naturalWidth") > 200
    graph, body = page.locator("#cairn-graph-print").bounding_box(), page.evaluate("document.body.scrollWidth")
    assert graph["width"] > 200 and graph["height"] > 100 and graph["x"] + graph["width"] <= body
    screenshot(page, "papers-verdict-print-media")
    page.emulate_media(media="screen")

    with page.expect_download() as download:
        page.click("#cairn-download-pdf")
    assert download.value.suggested_filename == f"cairn-verdict-{verification.pk}-{US_VIN}.pdf"
    pages, text = pdf_text(Path(download.value.path()).read_bytes())
    assert pages == 1
    assert f"Cairn verdict on {US_VIN}" in text and explanation in text
    assert page.javascript_errors == []


def vins_upstream_of(owner: str) -> set[str]:
    """Independently of the search: each claim whose upstream graph holds a batch of `owner`."""
    found = set()
    for claim in Claim.objects.all():
        _graph, batches = upstream_graph(claim.batch_id)
        if any(batch.owner_id == owner for batch in batches.values()):
            found.add(claim.vin)
    return found


def test_which_vehicles_contain_ochang_cells_and_their_csv(demo_data, live_server, page, screenshot):
    expected = vins_upstream_of("ochang-cells")
    assert expected and expected != set(Claim.objects.values_list("vin", flat=True))
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/provenance/claim/?q=Ochang")
    listed = set(page.locator("#result_list tbody th a").all_inner_texts())
    assert listed == expected
    assert axe_violations(page) == []
    screenshot(page, "papers-claims-ochang")

    page.goto(f"{live_server.url}/admin/provenance/claim/?credit=0")
    zero = set(page.locator("#result_list tbody th a").all_inner_texts())
    assert zero == set(Verification.objects.filter(credit_usd="0").values_list("claim_id", flat=True))

    page.goto(f"{live_server.url}/admin/provenance/claim/?q=Ochang")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "export_csv")
    with page.expect_download() as download:
        page.click("button[name=index]")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {row["vin"] for row in rows} == expected
    for row in rows:
        assert row["credit_usd"] == verdict_of(row["vin"]).credit_usd
        assert row["explanation"].startswith("$") and row["verified_at"].endswith("Z")


def test_the_what_if_from_the_agreement_s_page(demo_data, live_server, page, screenshot):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/agreements/tradeagreement/us-japan-cma/change/")
    page.click("#cairn-what-if-link")
    assert page.get_attribute("#id_terminate_on", "placeholder") == "YYYY-MM-DD"
    page.fill("#id_terminate_on", "2024-01-01")
    page.click("input[value='Run what-if']")
    counts = page.inner_text("#cairn-impact-us-japan-cma .cairn-impact-counts")
    assert "claims evaluated" in counts and "unchanged" in counts and "1 claim would change" in counts
    assert axe_violations(page) == []
    screenshot(page, "papers-what-if")
    page.locator("#cairn-impact-us-japan-cma table a").first.click()
    page.wait_for_selector("#cairn-story")  # the VIN links to its claim
    ran = Activity.objects.get(action="ran_what_if")
    assert (ran.user.username, ran.subject, ran.parameters) == (
        "auditor",
        "us-japan-cma",
        {"terminate_on": "2024-01-01"},
    )


def test_the_activity_log_as_the_superuser(demo_data, live_server, page, screenshot, django_user_model):
    log_in(page, live_server)
    open_verdict(page, live_server, US_VIN)
    page.click("#logout-form button")
    django_user_model.objects.create_superuser("lead", password="a-long-browser-password")
    log_in(page, live_server, "lead", "a-long-browser-password")
    page.goto(f"{live_server.url}/admin/audit/activity/?user__id__exact={demo_auditor_id()}")
    assert "viewed a verdict" in page.inner_text("#result_list")
    assert " UTC" in page.inner_text("#result_list")
    assert page.locator("#content a.addlink").count() == 0  # nobody adds, changes or deletes a row
    assert axe_violations(page) == []
    screenshot(page, "papers-activity")


def demo_auditor_id() -> int:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="auditor").pk


def test_a_broken_verdict_fits_1440_px_and_the_site_around_the_admin(demo_data, live_server, page, screenshot):
    change_envelope_byte(Batch.objects.get(id="greenbushes-lithium:ORE-A24").created_by_id)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/provenance/claim/{US_VIN}/change/")
    page.click("#cairn-verify")
    page.wait_for_selector("#cairn-summary")
    assert page.inner_text("#cairn-credit") == "$0"
    assert page.inner_text("#cairn-explanation").startswith("$0: the ledger's integrity is broken")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1440, width
    for tool in page.locator(".object-tools a, .object-tools button").all():
        tool_box = tool.bounding_box()
        assert tool_box["x"] >= 0 and tool_box["x"] + tool_box["width"] <= 1440, tool.inner_text()
    assert axe_violations(page) == []
    screenshot(page, "papers-broken-verdict")
    page.goto(f"{live_server.url}/admin/provenance/claim/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    screenshot(page, "papers-claims-after-broken")

    response = page.goto(f"{live_server.url}/admin/audit/verification/abc/change/")
    assert response.status == 404
    page.goto(f"{live_server.url}/admin/")
    assert "Cairn administration" in page.inner_text("#site-name")
    page.click("text=View site")
    assert page.inner_text("h1") == "Cairn"
    assert axe_violations(page) == []
    screenshot(page, "papers-landing")
