"""The form fields and the admin's saving for a change to a rule row (see the package)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.options import BaseModelAdmin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.module_loading import import_string
from simple_history.admin import SimpleHistoryAdmin

CHANGE_REASON = "change_reason"
CHANGE_SOURCE = "change_source"
CHANGE_FIELDS = (CHANGE_REASON, CHANGE_SOURCE)


class ChangeForm(forms.ModelForm):
    """A rule row's form, with the reason and the source of the change: kept in
    its history and in the ledger's `rules` entry (contract §12); both required."""

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


def without_change_fields(fieldsets):
    """`fieldsets` without the change's reason and source (the form's extra fields)."""
    return [
        (title, {**options, "fields": [name for name in options["fields"] if name not in CHANGE_FIELDS]})
        for title, options in fieldsets
    ]


def with_change_fields(fieldsets):
    """`fieldsets` with the change's reason and source last, under "Change"."""
    return [*without_change_fields(fieldsets), ("Change", {"fields": list(CHANGE_FIELDS)})]


def may_edit(model_admin: BaseModelAdmin[Any], request: HttpRequest, obj: Model | None) -> bool:
    """Whether the user may change `obj` (add one, when None) through `model_admin`: only
    then is the change's reason and source asked for."""
    return model_admin.has_change_permission(request, obj) if obj else model_admin.has_add_permission(request)


class RecordedChangeAdmin(SimpleHistoryAdmin):
    """History for every change, with its reason; the change in the log; no deletion."""

    form: type[forms.ModelForm[Any]] = ChangeForm

    def may_edit(self, request, obj) -> bool:
        return may_edit(self, request, obj)

    def get_fieldsets(self, request, obj=None):
        """The change's reason and source last for whoever may edit; `read_only_fieldsets` for the others."""
        fieldsets = super().get_fieldsets(request, obj)
        return with_change_fields(fieldsets) if self.may_edit(request, obj) else self.read_only_fieldsets(fieldsets)

    def read_only_fieldsets(self, fieldsets):
        """The fieldsets for whoever may only view: no change asked for."""
        return without_change_fields(fieldsets)

    def has_delete_permission(self, request, obj=None):
        """Rule rows end by their dates, as a change with its reason and source: never deleted."""
        return False

    def save_model(self, request, obj, form, change):
        # The rule data before the edit (every regime's, CAIRN_RULE_DATA_READER), for
        # the rules entry save_related appends (the admin runs the whole form in one transaction).
        request._rules_before = import_string(settings.CAIRN_RULE_DATA_READER)()
        obj._change_reason = form.cleaned_data.get(CHANGE_REASON) or None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        """The object, then its inlines, then the change in the log (contract §12)."""
        super().save_related(request, form, formsets, change)
        record = import_string(settings.CAIRN_RULE_CHANGE_RECORDER)
        record(
            before=request._rules_before,
            reason=form.cleaned_data[CHANGE_REASON],
            source=form.cleaned_data[CHANGE_SOURCE],
            by=request.user.get_username(),
        )
