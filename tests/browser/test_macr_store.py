"""An auditor signs and stores the demo's §45X cell batch's verdict in the browser at 1440 px,
reads the stored verification and downloads its proof bundle; axe-core finds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.admin.utils import quote

from audit.models import MacrVerification
from cairn_core import signed_note
from cairn_core.regimes.s45x import bundle as s45x_bundle
from demo import data as demo
from provenance import ledger_key
from tests.browser.axe import axe_violations
from tests.support import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WIDTH = 1440


def test_sign_store_read_and_download_the_cell_batchs_verdict(demo_data, live_server, page, screenshot):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/provenance/batch/{quote(demo.MACR_CELLS)}/macr/2026/")
    page.wait_for_selector("#cairn-macr-summary")
    sentence = page.inner_text("#cairn-macr-sentence")
    assert sentence.startswith("Pass: 61.10% of the direct material costs")
    assert axe_violations(page) == []

    page.click("#cairn-macr-store")
    page.wait_for_selector("#cairn-macr-stored")
    stored = MacrVerification.objects.get()
    assert (stored.batch_id, stored.taxable_year, stored.outcome) == (demo.MACR_CELLS, 2026, "pass")
    assert page.url.endswith(f"/admin/audit/macrverification/{stored.pk}/change/")
    assert f"Stored and signed: {stored}." in page.inner_text("ul.messagelist")
    assert page.inner_text("#cairn-macr-sentence") == sentence
    assert page.inner_text("#cairn-macr-ledger-entry").startswith("the macr_verdict ledger entry #")
    assert "verifies with the ledger key" in page.inner_text("#cairn-report")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    screenshot(page, "macr-stored-verification")
    assert axe_violations(page) == []

    with page.expect_download() as download:
        page.click("#cairn-download-bundle")
    assert download.value.suggested_filename == s45x_bundle.file_name(demo.MACR_CELLS, 2026, stored.pk)
    document = json.loads(Path(download.value.path()).read_text())
    result = s45x_bundle.verify(document, log_key=signed_note.parse_verifier(ledger_key.current().verifier))
    assert result.failures == [] and result.verdict["outcome"] == "pass"

    page.goto(f"{live_server.url}/admin/audit/macrverification/")
    row = page.locator("#result_list tbody tr").first
    cells = row.locator("td").all_inner_texts()
    assert demo.MACR_CELLS in cells and "Pass" in cells and "61.10%" in cells
    assert axe_violations(page) == []
    assert page.javascript_errors == []
