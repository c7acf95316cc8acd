"""The trade agreements' admin as auditors use it: links, relinking, what-if.

`agreements.admin.TradeAgreementAdmin` knows only the rules (and is not
registered). This subclass, registered by audit's admin module, adds what the layers above
the rules know about an agreement: the ledger entries linked to it (with
their count in the list), recomputing every entry's links
(`provenance.linking.relink`), and the what-if of ending it on a date
(`audit.impact`: the verification engine under changed rules).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from agreements.admin import TradeAgreementAdmin
from agreements.models import TradeAgreement
from audit import activity
from audit.impact import engine_evaluator, impact_of_termination
from audit.models import Activity
from provenance.admin import entry_link
from provenance.linking import relink

LINKED_ENTRIES_SHOWN = 100
LINKED_ENTRIES = "Ledger entries linked to this agreement"


class WhatIfForm(forms.Form):
    # ISO 8601 only: 03/04/2025 is read differently on either side of the Atlantic.
    terminate_on = forms.DateField(
        label="Terminate on",
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(
            format="%Y-%m-%d",
            attrs={"placeholder": "YYYY-MM-DD", "pattern": r"\d{4}-\d{2}-\d{2}", "inputmode": "numeric"},
        ),
        help_text="The first day on which the agreement would no longer count, as YYYY-MM-DD (e.g. 2025-01-01).",
        error_messages={"invalid": "Enter the date as YYYY-MM-DD, e.g. 2025-01-01."},
    )


class AuditedTradeAgreementAdmin(TradeAgreementAdmin):
    """The rules' agreement admin, with the ledger's links and the what-if."""

    list_display = [*TradeAgreementAdmin.list_display, "linked_entry_count"]
    readonly_fields = [*TradeAgreementAdmin.readonly_fields, "linked_entries"]
    actions = ["relink_all_entries", "what_if_terminated"]
    fieldsets = [*TradeAgreementAdmin.fieldsets, (LINKED_ENTRIES, {"fields": ["linked_entries"]})]

    def get_queryset(self, request: HttpRequest) -> QuerySet[TradeAgreement]:
        return super().get_queryset(request).annotate(link_count=Count("entry_links"))

    @admin.display(description="links", ordering="link_count")
    def linked_entry_count(self, agreement: TradeAgreement) -> int:
        count: int = getattr(agreement, "link_count")  # noqa: B009 - the queryset's annotation
        return count

    @admin.display(description="linked entries")
    def linked_entries(self, agreement: TradeAgreement) -> str:
        links = agreement.entry_links.select_related("entry").order_by("-entry_id", "mineral")
        total = links.count()
        if not total:
            return "None"
        shown = format_html_join(
            "",
            "<li>{} {} {} on {} ({})</li>",
            (
                (entry_link(link.entry_id), link.entry.type, link.country, link.entry.occurred_at.date(), link.mineral)
                for link in links[:LINKED_ENTRIES_SHOWN]
            ),
        )
        changelist = reverse("admin:provenance_entryagreementlink_changelist")
        return format_html(
            '<ul>{}</ul><a href="{}?agreement__slug__exact={}">All {} links</a>',
            shown,
            changelist,
            agreement.slug,
            total,
        )

    # Reads only (the engine runs under changed rules, nothing is stored):
    # open to whoever may view agreements, auditors included.
    @admin.action(description="What if they ended on a date? (runs the engine, stores nothing)", permissions=["view"])
    def what_if_terminated(
        self, request: HttpRequest, queryset: QuerySet[TradeAgreement], form_action: str = ""
    ) -> TemplateResponse:
        """Ask for a date, then list the claims whose credit or qualifying % would change."""
        form = WhatIfForm(request.POST if "terminate_on" in request.POST else None)
        context = {
            **self.admin_site.each_context(request),
            "title": "What if these agreements ended?" if len(queryset) > 1 else "What if this agreement ended?",
            "agreements": queryset,
            "form": form,
            "form_action": form_action,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        if form.is_valid():
            evaluate = engine_evaluator()
            terminate_on = form.cleaned_data["terminate_on"]
            context["impacts"] = [
                impact_of_termination(agreement.slug, terminate_on, evaluate=evaluate) for agreement in queryset
            ]
            slugs = ", ".join(agreement.slug for agreement in queryset)
            activity.record(request.user, Activity.Action.RAN_WHAT_IF, slugs, terminate_on=terminate_on.isoformat())
        return TemplateResponse(request, "admin/agreements/what_if.html", context)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.what_if_view)
        return [path("<path:object_id>/what-if/", view, name="agreements_tradeagreement_what_if"), *super().get_urls()]

    def what_if_view(self, request: HttpRequest, object_id: str) -> TemplateResponse:
        """The what-if of one agreement, from its own page (GET: the form; POST: the result)."""
        agreement = get_object_or_404(TradeAgreement, pk=object_id)
        if not self.has_view_permission(request, agreement):
            raise PermissionDenied
        queryset = TradeAgreement.objects.filter(pk=agreement.pk)
        return self.what_if_terminated(request, queryset, form_action=request.path)

    # A write (derived links are replaced): for users who may change agreements.
    @admin.action(description="Recompute every entry's agreement links", permissions=["change"])
    def relink_all_entries(self, request: HttpRequest, queryset: QuerySet[TradeAgreement]) -> None:
        result = relink()
        self.message_user(
            request,
            f"{result.entries} entries: {result.kept} links kept, {result.added} added, {result.removed} removed.",
            messages.SUCCESS,
        )
