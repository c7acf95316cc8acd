"""The auditors' admin: claims with their latest verdicts, verdict pages, the
provenance graph and the integrity dashboard.

It extends the ledger's read-only ClaimAdmin (provenance.admin, which
leaves Claim unregistered) with what only the audit app knows:
verifications. audit.admin registers these pages; their data is
audit.admin.page_data's.

Pages (all under /admin/, for staff with the view permissions of the
Auditors group; every ledger page stays read-only):

* Claims (``provenance/claim/``): each VIN with its latest verdict, a
  Verify button per row and a "Verify selected claims" action.
* A claim (``provenance/claim/<vin>/change/``): the claim, its verdicts and
  the provenance graph from the mines to the vehicle, with a Verify button.
* A verdict (``audit/verification/<id>/change/``): each requirement with its
  figures and the entries behind them, the agreements relied on, the
  problems, the checkpoint, and the signed report to download
  (``audit/verification/<id>/report/``).
* Integrity (``audit/verification/integrity/``): the latest checkpoint, the
  last check runs and the open incidents.

Writes go through the services the API and the Celery tasks call:
`audit.engine.verify_claim` and `audit.checks.run_incremental`, for users
with the `audit.run_verification` permission.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError

from agreements.snapshot import current_ruleset
from audit import (
    activity,
    bundle,
    checks,
    claim_search,
    claim_stories,
    consequences,
    rules_since,
    tasks,
    timestamps,
    verdict_monitor,
    verdict_pdf,
    verdict_text,
    working_papers,
)
from audit.admin import page_data, papers
from audit.auditors import RUN_VERIFICATION_PERM
from audit.engine import verify_claim
from audit.models import Activity, IntegrityCheckRun, IntegrityIncident, Verification
from cairn_core.regimes.s30d import rules
from provenance import tlog
from provenance.admin import ClaimAdmin, LedgerAdmin, admin_link, countries_in_use
from provenance.errors import LedgerError
from provenance.models import Claim, Cosignature

# A full check still running after this long is taken for lost (no worker took
# it): the dashboard lets another one start.
FULL_CHECK_PATIENCE = dt.timedelta(hours=1)


def credit_badge(credit: str | None, integrity: str | None = None) -> str:
    if not credit:
        return mark_safe('<span class="cairn-badge cairn-unverified">not verified</span>')
    broken = " (integrity broken)" if integrity == "broken" else ""
    shown = verdict_text.dollars(credit)
    return format_html('<span class="cairn-badge cairn-credit-{}">{}</span>{}', credit, shown, broken)


def can_verify(request) -> bool:
    return request.user.has_perm(RUN_VERIFICATION_PERM)


# --- claims ---------------------------------------------------------------------


# The unresolved incidents' ids by VIN, read once per claims list (a request's own).
WARNINGS_BY_VIN: contextvars.ContextVar[dict[str, list[int]] | None] = contextvars.ContextVar(
    "warnings_by_vin", default=None
)


class LatestVerdictFilter(admin.SimpleListFilter):
    """Claims by a column of their latest verdict (annotated by AuditorClaimAdmin.get_queryset)."""

    annotation = ""
    options: tuple[tuple[str, str], ...] = ()

    def lookups(self, request, model_admin):
        return [*self.options, ("none", "not verified")]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(latest_verification__isnull=True)
        if self.value() in dict(self.options):
            return queryset.filter(**{self.annotation: self.value()})
        return queryset


class LatestCreditFilter(LatestVerdictFilter):
    title = "latest credit"
    parameter_name = "credit"
    annotation = "latest_credit_usd"
    options = (("7500", "$7,500"), ("3750", "$3,750"), ("0", "$0"))


class LatestIntegrityFilter(LatestVerdictFilter):
    title = "latest integrity"
    parameter_name = "integrity"
    annotation = "latest_integrity"
    options = (("intact", "intact"), ("broken", "broken"))


class AuditorClaimAdmin(ClaimAdmin):
    """The ledger's read-only Claim admin, with verdicts and a Verify button."""

    change_list_template = "admin/audit/claim/change_list.html"
    change_form_template = "admin/audit/claim/change_form.html"
    list_display = [
        "vin",
        "manufacturer",
        "placed_in_service_on",
        "acquired_on",
        "assembled_in",
        "latest_verdict",
    ]
    list_filter = [
        LatestCreditFilter,
        LatestIntegrityFilter,
        ("manufacturer", admin.RelatedOnlyFieldListFilter),
        countries_in_use("final_assembly_country", "final assembly country"),
    ]
    search_fields = ["vin", "batch__id", "manufacturer__slug", "manufacturer__name"]
    search_help_text = "A VIN, a manufacturer, or a supplier or batch in the vehicle's supply chain (e.g. Ochang)."
    actions = ["verify_selected", "export_csv"]

    class Media:
        css = {"all": ["audit/auditor.css"]}

    def get_queryset(self, request):
        latest = Verification.objects.filter(claim=OuterRef("pk")).order_by("-requested_at", "-id")
        return (
            super()
            .get_queryset(request)
            .annotate(
                latest_verification=Subquery(latest.values("id")[:1]),
                latest_credit_usd=Subquery(latest.values("credit_usd")[:1]),
                latest_integrity=Subquery(latest.values("integrity")[:1]),
                latest_requested_at=Subquery(latest.values("requested_at")[:1]),
            )
        )

    def get_list_display(self, request):
        return [*self.list_display, "verify_button"] if can_verify(request) else self.list_display

    def changelist_view(self, request, extra_context=None):
        token = WARNINGS_BY_VIN.set(consequences.warnings_by_vin())
        try:
            response = super().changelist_view(request, extra_context)
            if isinstance(response, TemplateResponse):
                response.render()  # the rows are drawn now, while the warnings are set
            return response
        finally:
            WARNINGS_BY_VIN.reset(token)

    def get_search_results(self, request, queryset, search_term):
        """The VIN and manufacturer matches, and every claim whose supply chain holds a matching batch."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        containing = claim_search.vins_containing(search_term)
        if containing:
            found = found | queryset.filter(vin__in=containing)
        return found, may_have_duplicates

    @admin.display(description="placed in service", ordering="placed_in_service")
    def placed_in_service_on(self, claim):
        return claim.placed_in_service.isoformat()

    @admin.display(description="acquired", ordering="acquired")
    def acquired_on(self, claim):
        return claim.acquired.isoformat()

    @admin.display(description="assembled in", ordering="final_assembly_country")
    def assembled_in(self, claim):
        return claim.final_assembly_country.code

    @admin.display(description="latest verdict", ordering="latest_requested_at")
    def latest_verdict(self, claim):
        badge = credit_badge(claim.latest_credit_usd, claim.latest_integrity)
        if not claim.latest_verification:
            return badge
        url = reverse("admin:audit_verification_change", args=[claim.latest_verification])
        when = timestamps.shown(claim.latest_requested_at)
        warned = (WARNINGS_BY_VIN.get() or {}).get(claim.vin, [])
        warning = (
            format_html(
                '<br><span class="cairn-claim-warning">rests on a row under open integrity incident {}</span>',
                format_html_join(
                    ", ",
                    '<a href="{}">#{}</a>',
                    ((reverse("admin:audit_integrityincident_change", args=[pk]), pk) for pk in warned),
                ),
            )
            if warned
            else ""
        )
        return format_html(
            '{} <a href="{}" class="cairn-verdict-link">{}</a><br><span class="cairn-when">{}</span>{}',
            badge,
            url,
            claim.latest_integrity,
            when,
            warning,
        )

    @admin.display(description="")
    def verify_button(self, claim):
        url = reverse("admin:provenance_claim_verify", args=[claim.vin])
        return format_html(
            '<button type="submit" class="cairn-verify" form="cairn-verify-form" '
            'formaction="{}" data-vin="{}">Verify</button>',
            url,
            claim.vin,
        )

    def has_run_verification_permission(self, request):
        return can_verify(request)

    @admin.action(description="Verify selected claims", permissions=["run_verification"])
    def verify_selected(self, request, queryset):
        done = [verify_claim(claim.vin, requested_by=request.user) for claim in queryset]
        for verification in done:
            activity.record(request.user, Activity.Action.RAN_VERIFICATION, verification.claim_id)
            self.message_user(
                request,
                f"{verification.claim_id}: {verdict_text.dollars(verification.credit_usd)}, {verification.integrity}",
                messages.SUCCESS,
            )
        if len(done) == 1:
            return HttpResponseRedirect(reverse("admin:audit_verification_change", args=[done[0].pk]))
        return None

    @admin.action(description="Export selected claims with their latest verdicts (CSV)", permissions=["view"])
    def export_csv(self, request, queryset):
        amounts = rules.credit_amounts(current_ruleset())
        text = working_papers.claims_csv(queryset.order_by("vin"), amounts)
        return papers.csv_download(request, text, "claims", rows=queryset.count())

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/verify/",
                self.admin_site.admin_view(require_POST(self.verify_view)),
                name="provenance_claim_verify",
            ),
        ]
        return own + super().get_urls()

    def verify_view(self, request, object_id):
        """POST: verify the claim now (audit.engine.verify_claim) and show the verdict."""
        if not can_verify(request):
            raise PermissionDenied
        try:
            verification = verify_claim(object_id, requested_by=request.user)
        except LedgerError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:provenance_claim_changelist"))
        activity.record(request.user, Activity.Action.RAN_VERIFICATION, verification.claim_id)
        return HttpResponseRedirect(reverse("admin:audit_verification_change", args=[verification.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        claim = Claim.objects.filter(pk=object_id).first()
        extra = dict(extra_context or {})
        if claim is not None and self.has_view_permission(request, claim):
            extra.update(
                verifications=claim.verifications.select_related("requested_by")[:20],
                verdict_history=verdict_monitor.history(claim.vin),
                graph=(graph := page_data.claim_graph(claim, current_ruleset())),
                graph_text=page_data.graph_text(graph),
                can_verify=can_verify(request),
                verify_url=reverse("admin:provenance_claim_verify", args=[claim.vin]),
                story=claim_stories.story(claim.vin),
            )
        return super().change_view(request, object_id, form_url, extra_context=extra)


# --- verifications: the verdict page, the report, the integrity dashboard --------


class VerificationAdmin(LedgerAdmin):
    """Stored verdicts; each one's page explains it. Verifications are made by Verify."""

    list_display = [
        "id",
        "claim_ref",
        "credit",
        "integrity",
        "requested_by",
        "requested_on",
        "tree_size",
        "rules",
    ]
    list_select_related = ["claim", "requested_by"]
    list_filter = ["credit_usd", "integrity", "requested_at"]
    search_fields = ["claim__vin", "=id"]
    date_hierarchy = "requested_at"
    actions = ["export_csv"]

    class Media:
        css = {"all": ["audit/auditor.css"]}

    @admin.display(description="claim", ordering="claim_id")
    def claim_ref(self, verification):
        return admin_link("admin:provenance_claim_change", verification.claim_id, verification.claim_id)

    @admin.display(description="credit", ordering="credit_usd")
    def credit(self, verification):
        return credit_badge(verification.credit_usd, verification.integrity)

    @admin.display(description="requested at", ordering="requested_at")
    def requested_on(self, verification):
        return timestamps.shown(verification.requested_at)

    @admin.display(description="checkpoint tree size", ordering="checkpoint_size")
    def tree_size(self, verification):
        return verification.checkpoint_size

    @admin.display(description="rules version", ordering="rules_version")
    def rules(self, verification):
        version = verification.rules_version
        short = version if len(version) <= 14 else f"{version[:12]}…"
        return format_html('<span title="{}">{}</span>', version, short)

    @admin.action(description="Export selected verdicts (CSV)", permissions=["view"])
    def export_csv(self, request, queryset):
        amounts = rules.credit_amounts(current_ruleset())
        text = working_papers.verdicts_csv(queryset.select_related("requested_by").order_by("id"), amounts)
        return papers.csv_download(request, text, "verdicts", rows=queryset.count())

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path("integrity/", view(self.integrity_view), name="audit_integrity_dashboard"),
            path(
                "integrity/check/",
                view(require_POST(self.integrity_check_view)),
                name="audit_integrity_check",
            ),
            path(
                "integrity/full-check/",
                view(require_POST(self.integrity_full_check_view)),
                name="audit_integrity_full_check",
            ),
            path("<int:object_id>/report/", view(self.report_view), name="audit_verification_report"),
            path("<int:object_id>/pdf/", view(self.pdf_view), name="audit_verification_pdf"),
            path("<int:object_id>/bundle/", view(gzip_page(self.bundle_view)), name="audit_verification_bundle"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The verdict page (404 for an id that is not a number, as for one that is not stored)."""
        if not str(object_id).isdigit():
            raise Http404(f"No verification {object_id!r}: a verification's id is a number.")
        verification = get_object_or_404(Verification.objects.select_related("claim", "requested_by"), pk=object_id)
        if not self.has_view_permission(request, verification):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Verdict on {verification.claim_id}",
            "subtitle": f"verification {verification.pk}",
            "verification": verification,
            "can_verify": can_verify(request),
            "verify_url": reverse("admin:provenance_claim_verify", args=[verification.claim_id]),
            "media": self.media,
            "verdict_json": json.dumps(verification.verdict, indent=2),
            "signed_when": {key: verification.verdict.get(key) for key in ("verified_at", "requested_by")},
            **verdict_page_data(verification),
        }
        activity.record(request.user, Activity.Action.VIEWED_VERDICT, verification)
        return TemplateResponse(request, "admin/audit/verification/verdict.html", context)

    def pdf_view(self, request, object_id):
        """The verdict on one page, as PDF (audit.verdict_pdf)."""
        verification = get_object_or_404(Verification.objects.select_related("claim", "requested_by"), pk=object_id)
        if not self.has_view_permission(request, verification):
            raise PermissionDenied
        return verdict_pdf.download(
            verification,
            lambda: verdict_page_data(verification),
            verdict_pdf.TEMPLATE,
            verdict_pdf.filename(verification),
            by=request.user,
        )

    def report_view(self, request, object_id):
        """The signed report (a DSSE envelope), as a JSON file to download."""
        verification = get_object_or_404(Verification, pk=object_id)
        if not self.has_view_permission(request, verification):
            raise PermissionDenied
        body = json.dumps(verification.report, indent=2, sort_keys=True) + "\n"
        response = HttpResponse(body, content_type="application/json")
        filename = f"cairn-verification-{verification.pk}-{verification.claim_id}.dsse.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        activity.record(request.user, Activity.Action.DOWNLOADED_REPORT, verification)
        return response

    def bundle_view(self, request, object_id):
        """The proof bundle (contract §8), the file an examiner checks offline with cairn-verify."""
        verification = get_object_or_404(Verification, pk=object_id)
        if not self.has_view_permission(request, verification):
            raise PermissionDenied
        try:
            response = bundle.download(verification)
        except LedgerError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:audit_verification_change", args=[verification.pk]))
        activity.record(request.user, Activity.Action.DOWNLOADED_BUNDLE, verification)
        return response

    def integrity_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Ledger integrity",
            "can_check": can_verify(request),
            "media": self.media,
            **page_data.integrity_status(),
        }
        return TemplateResponse(request, "admin/audit/integrity.html", context)

    def integrity_check_view(self, request):
        """POST: run the incremental check now, as the periodic task does."""
        if not can_verify(request):
            raise PermissionDenied
        problems = checks.run_incremental(detected_by=f"admin:{request.user.get_username()}")
        level = messages.WARNING if problems else messages.SUCCESS
        message = (
            f"Incremental check done: {len(problems)} problem(s) in the entries logged since the last check "
            "(older entries are re-read by a full check)."
        )
        self.message_user(request, message, level)
        return HttpResponseRedirect(reverse("admin:audit_integrity_dashboard"))

    def integrity_full_check_view(self, request):
        """POST: start a full check on the Celery workers (audit.check_full); the page shows its progress."""
        if not can_verify(request):
            raise PermissionDenied
        progress = checks.full_check_progress()
        if progress and progress.running and timezone.now() - progress.run.started_at < FULL_CHECK_PATIENCE:
            message = f"A full check is already running ({progress.parts_done} of {progress.parts} parts done)."
            self.message_user(request, message, messages.WARNING)
            return HttpResponseRedirect(reverse("admin:audit_integrity_dashboard"))
        # Recorded here, so that the page shows the check from now on, queued until a worker takes it.
        run = checks.start_run(IntegrityCheckRun.Kind.FULL, 0, tlog.current_size())
        try:
            tasks.check_full.delay(run_id=run.id)
        except OperationalError as exc:
            run.delete()
            self.message_user(request, f"The full check could not be queued (is the broker up?): {exc}", messages.ERROR)
        else:
            message = f"Full check started on the Celery workers over entries [0, {run.end}): its progress shows below."
            self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:audit_integrity_dashboard"))


def verdict_page_data(verification: Verification) -> dict:
    """What the verdict page and its PDF show beyond the verification row."""
    return {
        "cosignature_count": Cosignature.objects.filter(checkpoint_id=verification.checkpoint_size).count(),
        "verified_at": verification.verdict.get("verified_at") or verification.requested_at,
        "requested_by_text": working_papers.requested_by(verification),
        "rules_changed": rules_since.changes_since(verification),
        "integrity_warnings": IntegrityIncident.objects.filter(
            id__in=consequences.integrity_warnings(verification)
        ).order_by("id"),
        **page_data.verdict_details(verification),
    }
