"""A verdict on one printed page, as PDF: the auditor's paper copy.

§45X verdicts have theirs too (MACR_TEMPLATE, from the stored
verification's page data, `audit.admin.macr.verdict_story`): the outcome
and its sentence, the figures with the threshold and its source, each
direct material with why it is or is not attributed, the problems and the
scope.

Rendered by WeasyPrint (HTML and CSS to PDF; it needs Pango, Debian's
libpango-1.0-0) from the template ``admin/audit/verification/verdict_pdf.html``
and the same page data as the verdict page (`audit.admin.page_data.verdict_details`).
The page holds the amount and its explanation, the integrity, who asked and
when, the checkpoint and rules, each requirement with its figures, the
agreements relied on, the problems (the first `PROBLEMS_SHOWN`; the proof
bundle holds them all), the scope, the provenance graph in words, and the
signed report's key and whether it verifies. The signed report and the proof
bundle remain the evidence; the PDF is their readable summary.
"""

from __future__ import annotations

import ctypes.util
from collections.abc import Callable
from functools import cache
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpResponse
from django.template.loader import render_to_string

from audit import activity
from audit.models import Activity, MacrVerification, Verification

PROBLEMS_SHOWN = 8
TEMPLATE = "admin/audit/verification/verdict_pdf.html"
MACR_TEMPLATE = "admin/audit/macrverification/verdict_pdf.html"


PANGO = "pangoft2-1.0"
MISSING = (
    "This server cannot make PDFs: WeasyPrint needs Pango, which is not installed "
    "(Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0). "
    "Print the verdict page instead; its print stylesheet gives one page."
)


@cache
def available() -> bool:
    """Whether Pango, which WeasyPrint loads when imported, is on this host."""
    return ctypes.util.find_library(PANGO) is not None


def filename(verification: Verification) -> str:
    return f"cairn-verdict-{verification.pk}-{verification.claim_id}.pdf"


def macr_filename(verification: MacrVerification) -> str:
    """`cairn-macr-verdict-<id>-<batch>-<year>.pdf`, the batch's colon written as a dot."""
    batch = verification.batch_id.replace(":", ".")
    return f"cairn-macr-verdict-{verification.pk}-{batch}-{verification.taxable_year}.pdf"


def render(verification: Verification | MacrVerification, details: dict[str, Any], template: str = TEMPLATE) -> bytes:
    """The PDF of the verdict, from the verdict page's data: §30D's on one
    page (TEMPLATE); §45X's (MACR_TEMPLATE) runs on to further pages when
    its direct materials do not fit on one."""
    # Imported here: WeasyPrint loads Pango when imported, which only this needs.
    import weasyprint

    problems = details.get("problems", [])
    html = render_to_string(
        template,
        {
            **details,
            "verification": verification,
            "problems_shown": problems[:PROBLEMS_SHOWN],
            "problems_more": max(0, len(problems) - PROBLEMS_SHOWN),
        },
    )
    document = weasyprint.HTML(string=html).render()
    pdf: bytes = document.write_pdf()
    return pdf


def download(
    verification: Verification | MacrVerification,
    details: Callable[[], dict[str, Any]],
    template: str,
    filename: str,
    *,
    by: AbstractBaseUser | AnonymousUser,
) -> HttpResponse:
    """The PDF as an attachment named `filename`, from `details()` (the page's
    data, read only when a PDF can be made), the download recorded in the
    activity log as `by`'s; 503 with MISSING without Pango (nothing recorded)."""
    if not available():
        return HttpResponse(MISSING, status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(render(verification, details(), template), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    activity.record(by, Activity.Action.DOWNLOADED_PDF, verification)
    return response
