"""Admin for the §45X rule data: every change with its reason and source, in the history and the log.

The pages work as the agreements' do: each object's "History" page shows
its versions (SimpleHistoryAdmin); a change asks for its reason and its
source, both kept in the history and in the `rules` ledger entry the
change appends in the same transaction (contract §12), through the
settings CAIRN_RULE_DATA_READER (the rule data before the edit, every
regime's) and CAIRN_RULE_CHANGE_RECORDER (the entry), so that this app
needs no import of the ledger. Rows are never deleted: a designation ends
with its `until`, a threshold with its `sold_through`, so that past
verdicts can still be explained. An unconfirmed row says so on its page.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.module_loading import import_string
from simple_history.admin import SimpleHistoryAdmin

from material_assistance import models

CHANGE_REASON = "change_reason"
CHANGE_SOURCE = "change_source"


class RuleForm(forms.ModelForm):
    """A rule row's form with the change's reason and source (both required)."""

    change_reason = forms.CharField(
        label="Change reason",
        max_length=100,
        help_text="Why this change; kept in the history and in the log's rules entry, with your name.",
    )
    change_source = forms.CharField(
        label="Change source",
        max_length=500,
        help_text="Where the change comes from (the act, notice, list or page, as an address or a citation).",
    )


class RuleAdmin(SimpleHistoryAdmin):
    form = RuleForm
    list_filter = ["confirmed"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        may_edit = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        rows = [
            (
                title,
                {
                    **options,
                    "fields": [name for name in options["fields"] if name not in (CHANGE_REASON, CHANGE_SOURCE)],
                },
            )
            for title, options in fieldsets
        ]
        return [*rows, ("Change", {"fields": [CHANGE_REASON, CHANGE_SOURCE]})] if may_edit else rows

    def has_delete_permission(self, request, obj=None):
        """Rule rows end by their dates, as a change with its reason and source: never deleted."""
        return False

    def save_model(self, request, obj, form, change):
        # Every regime's rule data before the edit, for the rules entry that
        # save_related appends (the admin runs the whole form in one transaction).
        request._rules_before = import_string(settings.CAIRN_RULE_DATA_READER)()
        obj._change_reason = form.cleaned_data.get(CHANGE_REASON) or None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        record = import_string(settings.CAIRN_RULE_CHANGE_RECORDER)
        record(
            before=request._rules_before,
            reason=form.cleaned_data[CHANGE_REASON],
            source=form.cleaned_data[CHANGE_SOURCE],
            by=request.user.get_username(),
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and not obj.confirmed:
            messages.warning(request, "This row is not confirmed against the statute yet: see its source and notes.")
        return super().render_change_form(request, context, add, change, form_url, obj)


class SingleRowAdmin(RuleAdmin):
    """The rules read exactly one row of this table: it can be changed, not added to."""

    def has_add_permission(self, request):
        return not self.model.objects.exists()


@admin.register(models.ComponentClass)
class ComponentClassAdmin(RuleAdmin):
    list_display = ["slug", "component_names", "confirmed"]

    def get_readonly_fields(self, request, obj=None):
        # The slug is the primary key: editing it would make another class.
        return ["slug"] if obj else []

    @admin.display(description="components")
    def component_names(self, obj):
        return ", ".join(obj.components)


@admin.register(models.MacrThreshold)
class MacrThresholdAdmin(RuleAdmin):
    list_display = ["component_class", "sold_from", "sold_through", "percent", "confirmed"]
    list_filter = ["component_class", "confirmed"]


@admin.register(models.PfeDesignation)
class PfeDesignationAdmin(RuleAdmin):
    list_display = ["entity", "name", "kind", "basis", "designated_from", "until", "confirmed"]
    list_filter = ["kind", "confirmed"]
    search_fields = ["entity", "name", "basis"]


@admin.register(models.StatusDateRule)
class StatusDateRuleAdmin(SingleRowAdmin):
    list_display = ["slug", "rule", "confirmed"]


@admin.register(models.ExistingContractException)
class ExistingContractExceptionAdmin(SingleRowAdmin):
    list_display = ["slug", "binding_before", "sold_before", "confirmed"]
