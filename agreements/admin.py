"""Admin for the rule data: every change is kept with who, when, before and after.

All rule models use SimpleHistoryAdmin, so each object's "History" page
shows its versions and lets an auditor compare them. Agreements are never
deleted here: end them with a termination event, so that past verdicts can
still be explained. The rules know nothing of the ledger: the agreements'
links to ledger entries, relinking and the what-if of ending an agreement
are added to this admin by the layers above (provenance's admin for the
links themselves, audit.admin.agreements for the agreement pages).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db import models as db_models
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django_countries import countries

from agreements import models
from agreements.snapshot import current_ruleset
from rule_admin.changes import (
    CHANGE_FIELDS,
    CHANGE_REASON,
    ChangeForm,
    RecordedChangeAdmin,
    may_edit,
    without_change_fields,
)

KEY_DATES = ("2023-03-28", "2023-04-18", "2024-01-01", "2025-01-01", "2025-09-30")


def https_formfield(db_field, **kwargs):
    """Sources are https addresses (and Django 6 assumes https for bare hosts)."""
    if isinstance(db_field, db_models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


def mineral_names(slugs) -> str:
    return ", ".join(slugs) if slugs else "none"


if TYPE_CHECKING:
    # What the mixin's methods call: the admin class it is mixed into.
    AdminBase = admin.options.BaseModelAdmin[Any]
else:
    AdminBase = object


class ReadableWhenReadOnly(AdminBase):
    """For who may only view: JSON mineral lists as plain names, no change reason.

    `readable_fields` maps a field to the admin method that shows it in words.
    """

    readable_fields: dict[str, str] = {}

    def may_edit(self, request, obj) -> bool:
        if isinstance(self, admin.options.InlineModelAdmin):
            return self.has_change_permission(request, obj) or self.has_add_permission(request, obj)
        return may_edit(self, request, obj)

    def get_readonly_fields(self, request, obj=None):
        shown = super().get_readonly_fields(request, obj)
        return shown if self.may_edit(request, obj) else [*shown, *self.readable_fields.values()]

    def readable(self, fieldsets):
        def field(name):
            return (
                tuple(field(item) for item in name) if isinstance(name, tuple) else self.readable_fields.get(name, name)
            )

        return [
            (title, {**options, "fields": [field(name) for name in options["fields"]]})
            for title, options in without_change_fields(fieldsets)
        ]

    @admin.display(description="covered minerals")
    def covered_mineral_names(self, obj):
        return "all" if obj.covers_all_minerals else mineral_names(obj.covered_minerals)

    @admin.display(description="minerals added")
    def minerals_added_names(self, obj):
        return mineral_names(obj.minerals_added)

    @admin.display(description="minerals removed")
    def minerals_removed_names(self, obj):
        return mineral_names(obj.minerals_removed)


class RuleAdmin(ReadableWhenReadOnly, RecordedChangeAdmin):
    """History for every change, with its reason; source fields assume https."""

    formfield_overrides: ClassVar[Mapping[type[db_models.Field[Any, Any]], Mapping[str, Any]]] = {
        db_models.URLField: {"assume_scheme": "https"}
    }

    def read_only_fieldsets(self, fieldsets):
        return self.readable(fieldsets)

    def save_formset(self, request, form, formset, change):
        """Inline rows (an agreement's events) are saved with the parent's reason."""
        reason = form.cleaned_data.get(CHANGE_REASON) or None
        for inline_form in formset.forms:
            inline_form.instance._change_reason = reason
        super().save_formset(request, form, formset, change)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.unconfirmed:
            messages.warning(request, "Some facts in this row are unconfirmed: see the notes.")
        return super().render_change_form(request, context, add, change, form_url, obj)


def mineral_choices() -> list[tuple[str, str]]:
    return [(slug, slug) for slug in models.CriticalMineral.objects.values_list("slug", flat=True)]


# --- filters ----------------------------------------------------------------


def requested_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        # The admin answers this exception with the changelist and "?e=1".
        raise IncorrectLookupParameters(f"{value!r} is not a date YYYY-MM-DD") from exc


class InForceOnFilter(admin.SimpleListFilter):
    """?in_force_on=YYYY-MM-DD: agreements that count on that day (any date works)."""

    title = "in force on"
    parameter_name = "in_force_on"

    def lookups(self, request, model_admin):
        today = timezone.localdate().isoformat()
        return [(day, day) for day in KEY_DATES] + [(today, f"today ({today})")]

    def queryset(self, request, queryset):
        on = requested_date(self.value())
        return queryset.in_force(on=on) if on else queryset


class PartyFilter(admin.SimpleListFilter):
    title = "partner country"
    parameter_name = "party"

    def lookups(self, request, model_admin):
        codes = {code for agreement in models.TradeAgreement.objects.all() for code in agreement.partners}
        return sorted(((code, countries.name(code)) for code in codes), key=lambda item: item[1])

    def queryset(self, request, queryset):
        return queryset.with_party(self.value()) if self.value() else queryset


class MineralFilter(admin.SimpleListFilter):
    """Agreements covering a mineral, as amended on the "in force on" date (default today)."""

    title = "covered mineral"
    parameter_name = "mineral"

    def lookups(self, request, model_admin):
        battery_first = models.CriticalMineral.objects.order_by("-battery_relevant", "slug")
        return [(mineral.slug, mineral.name) for mineral in battery_first]

    def queryset(self, request, queryset):
        mineral = self.value()
        if not mineral:
            return queryset
        on = requested_date(request.GET.get(InForceOnFilter.parameter_name)) or timezone.localdate()
        slugs = [rule.slug for rule in current_ruleset().agreements if rule.covers(mineral, on)]
        return queryset.filter(slug__in=slugs)


# --- trade agreements -------------------------------------------------------


class TradeAgreementForm(ChangeForm):
    covered_minerals = forms.MultipleChoiceField(
        choices=mineral_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Ignored when the agreement covers all minerals.",
    )

    class Meta:
        model = models.TradeAgreement
        formfield_callback = https_formfield
        fields = [
            "slug",
            "title",
            "kind",
            "parties",
            "signed",
            "entered_into_force",
            "counts_from",
            "ends",
            "covers_all_minerals",
            "covered_minerals",
            "review_cadence_months",
            "next_review",
            "source",
            "notes",
            "unconfirmed",
        ]


class AgreementEventForm(ChangeForm):
    minerals_added = forms.MultipleChoiceField(choices=mineral_choices, required=False)
    minerals_removed = forms.MultipleChoiceField(choices=mineral_choices, required=False)

    class Meta:
        model = models.AgreementEvent
        formfield_callback = https_formfield
        fields = [
            "agreement",
            "kind",
            "effective_from",
            "effective_to",
            "minerals_added",
            "minerals_removed",
            "source",
            "notes",
            "unconfirmed",
        ]


class AgreementEventInlineForm(AgreementEventForm):
    """An event edited inside its agreement's page: the change's reason and
    source are the agreement form's, asked once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in CHANGE_FIELDS:
            del self.fields[name]


class AgreementEventInline(ReadableWhenReadOnly, admin.StackedInline):
    model = models.AgreementEvent
    form = AgreementEventInlineForm
    formfield_overrides = RuleAdmin.formfield_overrides
    extra = 0
    fields = [
        ("kind", "effective_from", "effective_to"),
        ("minerals_added", "minerals_removed"),
        "source",
        "notes",
        "unconfirmed",
    ]
    readable_fields = {"minerals_added": "minerals_added_names", "minerals_removed": "minerals_removed_names"}

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if self.may_edit(request, obj) else self.readable(fieldsets)


# Not registered here: the agreements' page shows the ledger entries linked to
# each agreement and the what-if of ending one, which only the layers above
# know (audit.admin.agreements AuditedTradeAgreementAdmin extends this class,
# and audit's admin module registers it).
class TradeAgreementAdmin(RuleAdmin):
    form = TradeAgreementForm
    readable_fields = {"covered_minerals": "covered_mineral_names"}
    inlines = [AgreementEventInline]
    list_display = [
        "slug",
        "title",
        "kind_code",
        "partner_list",
        "counts_from_day",
        "ends_day",
        "in_force_today",
        "review_due_flag",
        "unconfirmed",
    ]
    list_filter = [InForceOnFilter, PartyFilter, MineralFilter, "kind", "unconfirmed"]
    search_fields = ["slug", "title", "notes"]
    readonly_fields = ["review_status"]
    fieldsets = [
        (None, {"fields": ["slug", "title", "kind", "parties", "source", "unconfirmed", "notes"]}),
        ("Dates", {"fields": ["signed", "entered_into_force", "counts_from", "ends"]}),
        ("Minerals", {"fields": ["covers_all_minerals", "covered_minerals"]}),
        ("Review", {"fields": ["review_cadence_months", "next_review", "review_status"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[models.TradeAgreement]:
        in_force = models.TradeAgreement.objects.in_force(on=timezone.localdate())
        return super().get_queryset(request).annotate(in_force_now=Exists(in_force.filter(pk=OuterRef("pk"))))

    def get_readonly_fields(self, request, obj=None):
        # The slug is the primary key: editing it would create another agreement.
        return [*self.readonly_fields, "slug"] if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    class Media:
        css = {"all": ["agreements/agreements_admin.css"]}

    @admin.display(description="kind", ordering="kind")
    def kind_code(self, agreement):
        return format_html('<abbr title="{}">{}</abbr>', agreement.get_kind_display(), agreement.kind.upper())

    @admin.display(description="counts from", ordering="counts_from")
    def counts_from_day(self, agreement):
        return agreement.counts_from.isoformat() if agreement.counts_from else "-"

    @admin.display(description="ends", ordering="ends")
    def ends_day(self, agreement):
        return agreement.ends.isoformat() if agreement.ends else "-"

    @admin.display(description="partners")
    def partner_list(self, agreement):
        return ", ".join(agreement.partners)

    @admin.display(description="in force", boolean=True, ordering="in_force_now")
    def in_force_today(self, agreement):
        return agreement.in_force_now

    @admin.display(description="review due", boolean=True)
    def review_due_flag(self, agreement):
        return agreement.review_due(timezone.localdate())

    @admin.display(description="review")
    def review_status(self, agreement):
        due = agreement.review_date()
        if due is None:
            return "No review scheduled"
        state = "DUE" if agreement.review_due(timezone.localdate()) else "scheduled"
        return f"Next review {due} ({state})"


@admin.register(models.AgreementEvent)
class AgreementEventAdmin(RuleAdmin):
    form = AgreementEventForm
    readable_fields = AgreementEventInline.readable_fields
    list_display = ["agreement", "kind", "effective_from", "effective_to", "unconfirmed"]
    list_filter = ["kind", "agreement"]
    list_select_related = ["agreement"]
    date_hierarchy = "effective_from"


# --- minerals and credit rules ----------------------------------------------


@admin.register(models.CriticalMineral)
class CriticalMineralAdmin(RuleAdmin):
    list_display = ["slug", "name", "battery_relevant", "unconfirmed"]
    list_filter = ["battery_relevant"]
    search_fields = ["slug", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug"] if obj else []


@admin.register(models.ApplicablePercentage)
class ApplicablePercentageAdmin(RuleAdmin):
    list_display = [
        "placed_in_service_from",
        "placed_in_service_to",
        "critical_minerals_pct",
        "battery_components_pct",
        "unconfirmed",
    ]


class SingleRowAdmin(RuleAdmin):
    """The rules read exactly one row of this table: it can be changed, not added to."""

    def has_add_permission(self, request):
        return not self.model.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.CreditParameters)
class CreditParametersAdmin(SingleRowAdmin):
    list_display = [
        "slug",
        "critical_minerals_usd",
        "battery_components_usd",
        "requirements_from",
        "acquired_through",
    ]


@admin.register(models.FeocRule)
class FeocRuleAdmin(SingleRowAdmin):
    list_display = ["slug", "components_from", "minerals_from", "impracticable_until"]


@admin.register(models.FeocDesignation)
class FeocDesignationAdmin(RuleAdmin):
    list_display = [
        "organization",
        "basis",
        "covered_nation",
        "effective_from",
        "effective_to",
        "unconfirmed",
    ]
    list_filter = ["basis", "covered_nation"]
    search_fields = ["organization"]
