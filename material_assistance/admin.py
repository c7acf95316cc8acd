"""Admin for the §45X rule data: every change with its reason and source, in the history and the log.

The pages work as the agreements' do (rule_admin.changes): each object's
"History" page shows its versions; a change asks for its reason and its
source, both kept in the history and in the `rules` ledger entry the
change appends in the same transaction (contract §12). Rows are never
deleted: a designation ends with its `until`, a threshold with its
`sold_through`, so that past verdicts can still be explained. An
unconfirmed row says so on its page.
"""

from __future__ import annotations

from django.contrib import admin, messages

from material_assistance import models
from rule_admin.changes import RecordedChangeAdmin


class RuleAdmin(RecordedChangeAdmin):
    list_filter = ["confirmed"]

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
