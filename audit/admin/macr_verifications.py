"""The auditors' pages of stored §45X verifications (audit.models.MacrVerification).

A verification is made by "Sign and store this verdict" on a batch's §45X
page (audit.admin.macr), by the API or by the `macr_verdict --store`
command; these pages only show them (no add, change or delete, whoever
asks). audit.admin registers them.

* The list (``audit/macrverification/``): batch, taxable year, year sold,
  outcome, the ratio as the core shows it (truncated), when and by whom,
  with filters by outcome, taxable year and integrity.
* A verification (``audit/macrverification/<id>/change/``): the stored
  verdict told in the words of the batch's verdict page (`audit.macr_text`
  through `audit.admin.macr.verdict_story`, from the stored document, not
  computed again), who asked and when as the signed report says, the
  integrity incidents that hold its problems, the checkpoint, the
  signed report, its `macr_verdict` ledger entry, and the proof bundle
  (``<id>/bundle/``) that `cairn-verify` checks offline.
* Its PDF (``<id>/pdf/``): the same, on paper (audit.verdict_pdf).

Viewing one and downloading its report, bundle or PDF are recorded in the
activity log, as for §30D's verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.gzip import gzip_page

from audit import activity, incidents, macr_bundle, macr_text, timestamps, verdict_pdf
from audit.admin.macr import batch_url, entry_url, macr_url, organization_names, verdict_story
from audit.admin.page_data import report_check
from audit.models import Activity, MacrVerification
from cairn_core.regimes.s45x import bundle as s45x_bundle
from provenance.admin import LedgerAdmin
from provenance.errors import LedgerError
from provenance.models import Cosignature, Entry, EntryType


def ratio_shown(verdict: Mapping[str, Any]) -> str:
    """The ratio as the core shows it (truncated), or why there is none."""
    return f"{verdict['macr']['percent_shown']}%" if verdict.get("macr") else "not computed"


def ledger_entry_index(verification: MacrVerification) -> int | None:
    """The index of the verification's `macr_verdict` ledger entry (logged with its row)."""
    found: int | None = (
        Entry.objects.filter(
            type=EntryType.LEDGER, statement__type=s45x_bundle.VERDICT_KIND, statement__verification=verification.pk
        )
        .values_list("index", flat=True)
        .first()
    )
    return found


def page_data(verification: MacrVerification) -> dict[str, Any]:
    """What a stored verification's page and its PDF show: the stored verdict told (not computed again)."""
    verdict = verification.verdict
    names = organization_names(verdict)
    index = ledger_entry_index(verification)
    report = verification.report or {}
    return {
        "verification": verification,
        "batch": verification.batch,
        "signed_when": {key: verdict.get(key) for key in ("verified_at", "requested_by")},
        "cosignature_count": Cosignature.objects.filter(checkpoint_id=verification.checkpoint_size).count(),
        "ledger_entry": index,
        "ledger_entry_url": entry_url(index) if index is not None else None,
        "page_url": macr_url(verification.batch_id, verification.taxable_year),
        # The incidents that hold its problems, whichever check opened them.
        "incidents": incidents.holding(verdict["problems"]),
        "report_check": report_check(verification.report),
        "report_keyid": report.get("signatures", [{}])[0].get("keyid", ""),
        "bundle_name": s45x_bundle.file_name(verification.batch_id, verification.taxable_year, verification.pk),
        "verdict_json": json.dumps(verification.as_verdict(), indent=2),
        **verdict_story(verdict, names),
    }


class MacrVerificationAdmin(LedgerAdmin):
    """Stored §45X verdicts; each one's page tells it. They are made by "Sign and store"."""

    list_display = [
        "id",
        "batch_ref",
        "taxable_year",
        "year_sold",
        "outcome_badge",
        "ratio",
        "verified_on",
        "requested_by",
    ]
    list_display_links = ["id"]
    list_select_related = ["requested_by"]
    list_filter = ["outcome", "taxable_year", "integrity", "requested_at"]
    search_fields = ["batch__id", "=id"]
    date_hierarchy = "requested_at"

    class Media:
        css = {"all": ["audit/auditor.css"]}

    @admin.display(description="batch", ordering="batch_id")
    def batch_ref(self, verification: MacrVerification) -> str:
        return format_html('<a href="{}">{}</a>', batch_url(verification.batch_id), verification.batch_id)

    @admin.display(description="year sold")
    def year_sold(self, verification: MacrVerification) -> str:
        return macr_text.year_sold_short(verification.verdict)

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, verification: MacrVerification) -> str:
        name = macr_text.OUTCOME_NAMES.get(verification.outcome, verification.outcome)
        badge = '<span class="cairn-badge cairn-outcome cairn-outcome-{}">{}</span>'
        return format_html(badge, verification.outcome, name)

    @admin.display(description="material assistance cost ratio")
    def ratio(self, verification: MacrVerification) -> str:
        return ratio_shown(verification.verdict)

    @admin.display(description="verified at", ordering="requested_at")
    def verified_on(self, verification: MacrVerification) -> str:
        return timestamps.shown(verification.requested_at)

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path("<int:object_id>/report/", view(self.report_view), name="audit_macrverification_report"),
            path("<int:object_id>/bundle/", view(gzip_page(self.bundle_view)), name="audit_macrverification_bundle"),
            path("<int:object_id>/pdf/", view(self.pdf_view), name="audit_macrverification_pdf"),
        ]
        return own + super().get_urls()

    def readable(self, request, object_id) -> MacrVerification:
        if not str(object_id).isdigit():
            raise Http404(f"No §45X verification {object_id!r}: a verification's id is a number.")
        verification = get_object_or_404(
            MacrVerification.objects.select_related("batch", "requested_by", "organization"), pk=object_id
        )
        if not self.has_view_permission(request, verification):
            raise PermissionDenied
        return verification

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The stored verdict's page, told from the stored document."""
        verification = self.readable(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"§45X verdict on {verification.batch_id}, taxable year {verification.taxable_year}",
            "subtitle": f"§45X verification {verification.pk}",
            "media": self.media,
            **page_data(verification),
        }
        activity.record(request.user, Activity.Action.VIEWED_VERDICT, verification)
        return TemplateResponse(request, "admin/audit/macrverification/verdict.html", context)

    def pdf_view(self, request, object_id):
        """The stored verdict as PDF (audit.verdict_pdf), from the same data as its page."""
        verification = self.readable(request, object_id)
        return verdict_pdf.download(
            verification,
            lambda: page_data(verification),
            verdict_pdf.MACR_TEMPLATE,
            verdict_pdf.macr_filename(verification),
            by=request.user,
        )

    def report_view(self, request, object_id):
        """The signed report (a DSSE envelope), as a JSON file to download."""
        verification = self.readable(request, object_id)
        body = json.dumps(verification.report, indent=2, sort_keys=True) + "\n"
        response = HttpResponse(body, content_type="application/json")
        filename = f"cairn-macr-verification-{verification.pk}.dsse.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        activity.record(request.user, Activity.Action.DOWNLOADED_REPORT, verification)
        return response

    def bundle_view(self, request, object_id):
        """The proof bundle (docs/contract-45x.md §6), the file an examiner checks with cairn-verify."""
        verification = self.readable(request, object_id)
        try:
            response = macr_bundle.download(verification)
        except LedgerError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:audit_macrverification_change", args=[verification.pk]))
        activity.record(request.user, Activity.Action.DOWNLOADED_BUNDLE, verification)
        return response
