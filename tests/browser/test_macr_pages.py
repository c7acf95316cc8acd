"""An auditor reads the demo's §45X cell batch in the browser at 1440 px: the outlook of
component batches, the verdict's story, and its what-if; axe-core finds nothing."""

from __future__ import annotations

import pytest

from demo import data as demo
from tests.browser.axe import axe_violations
from tests.support import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WIDTH = 1440


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= WIDTH


def test_the_outlook_names_the_batch_2027_would_fail(demo_data, live_server, page, screenshot):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/provenance/batch/")
    page.click("#cairn-macr-outlook-link")
    page.fill("#id_year", "2026")
    page.click("#cairn-macr-outlook-form input[type=submit]")
    page.wait_for_selector("#cairn-macr-outlook")
    summary = page.inner_text("#cairn-macr-outlook-summary")
    assert "1 that passes or is excepted now would fail if sold in 2027 (threshold 65%)" in summary
    first = page.locator("#cairn-macr-outlook tbody tr").first
    assert first.get_attribute("data-batch") == demo.MACR_CELLS
    cells = first.locator("td").all_inner_texts()
    assert cells[4].startswith("Pass") and cells[5:7] == ["61.10%", "60%"]
    assert "Fail" in cells[7] and "would fail" in cells[7] and cells[8] == "65%"
    assert fits(page)
    screenshot(page, "macr-outlook-2026")
    assert axe_violations(page) == []

    page.check("#id_would_fail")
    page.click("#cairn-macr-outlook-form input[type=submit]")
    page.wait_for_selector("#cairn-macr-outlook")
    assert page.locator("#cairn-macr-outlook tbody tr").count() == 1
    assert page.javascript_errors == []


def test_the_cell_batchs_page_tells_its_story(demo_data, live_server, page, screenshot):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/provenance/batch/macr/?year=2026")
    page.click(f"#cairn-macr-outlook a:text-is('{demo.MACR_CELLS}')")
    page.wait_for_selector("#cairn-macr-summary")
    assert page.inner_text("#cairn-macr-outcome") == "Pass"
    assert page.inner_text("#cairn-macr-sentence") == (
        "Pass: 61.10% of the direct material costs ($61,100 of $100,000) are not attributed to prohibited "
        "foreign entities, at least the 60% a battery cell sold in 2026 must reach."
    )
    assert "Expected a pass at 2026's 60% with a MACR of 61.1%" in page.inner_text("#cairn-macr-story")
    assert page.inner_text("#cairn-macr-total") == "$100,000"
    assert page.inner_text("#cairn-macr-attributed") == "$38,900 (not attributed: $61,100)"
    assert "0.611000000000" in page.inner_text("#cairn-macr-ratio")
    threshold = page.inner_text("#cairn-macr-threshold")
    assert threshold.startswith("60% for a battery cell sold from 2026-01-01") and "unconfirmed" in threshold
    assert page.inner_text("#cairn-macr-year-sold").startswith("2026, from the sale of 2026-11-20 (entry #")
    rows = {
        row.get_attribute("data-supplier"): row.inner_text()
        for row in page.locator("#cairn-macr-inputs tbody tr").all()
    }
    assert set(rows) == {"gwangju-cathode", "osaka-anode", "ningbo-electrolyte", "georgia-separator"}
    assert "$45,000" in rows["gwangju-cathode"] and "$900 of $45,000, is attributed" in rows["gwangju-cathode"]
    assert "nothing is attributed" in rows["osaka-anode"]
    assert "designated a prohibited foreign entity" in rows["ningbo-electrolyte"]
    assert "from 2026-09-01, so it is one on 2026-12-31" in rows["ningbo-electrolyte"]
    assert "No certification by Georgia Separator Films" in rows["georgia-separator"]
    assert "IRC §45X(d)(2)" in page.inner_text("#cairn-macr-scope")
    # A certification's link opens its entry.
    page.locator("tr[data-supplier='osaka-anode'] ul.cairn-reasons a").click()
    page.wait_for_selector("text=supplier_certification")
    page.go_back()
    page.wait_for_selector("#cairn-macr-summary")
    assert fits(page)
    screenshot(page, "macr-verdict-story")
    assert axe_violations(page) == []
    assert page.javascript_errors == []


def test_the_what_if_shows_the_changed_verdict(demo_data, live_server, page, screenshot):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/provenance/batch/lordstown-cells_3ACELL-2026-0615/macr/2026/")
    page.fill("#id_year_sold", "2027")
    page.click("#cairn-macr-what-if-form input[type=submit]")
    page.wait_for_selector("#cairn-macr-what-if-result")
    assert page.inner_text("#cairn-macr-what-if-outcome") == "Fail"
    assert "below the 65% a battery cell sold in 2027 must reach. (now: pass)" in page.inner_text(
        "#cairn-macr-what-if-sentence"
    )
    assert page.inner_text("#cairn-macr-outcome") == "Pass"  # the verdict itself stands
    screenshot(page, "macr-what-if-2027")
    assert axe_violations(page) == []

    page.fill("#id_year_sold", "")
    page.select_option("#id_undesignate", "ningbo-electrolyte")
    page.click("#cairn-macr-what-if-form input[type=submit]")
    page.wait_for_selector("#cairn-macr-what-if-result")
    result = page.inner_text("#cairn-macr-what-if-result")
    assert "If every designation of Ningbo Electrolyte Co., Ltd. (ningbo-electrolyte) were removed" in result
    assert "Pass: 85.10% of the direct material costs ($85,100 of $100,000)" in result
    assert fits(page)
    assert axe_violations(page) == []
    assert page.javascript_errors == []
