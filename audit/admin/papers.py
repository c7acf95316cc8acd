"""The auditor's working papers in the admin: CSV downloads and the activity log.

* `csv_download`: a CSV file as an attachment, its download recorded in the
  user's activity.
* `ActivityAdmin` (``audit/activity/``): every user's recorded activity,
  read-only for everyone (the rows are append-only), filterable by user,
  action and date, and exportable as CSV.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from audit import activity, timestamps, working_papers
from audit.models import Activity
from provenance.admin import LedgerAdmin

ACTIVITY_COLUMNS = ("at", "user", "action", "subject", "parameters")


def csv_download(request: HttpRequest, text: str, name: str, **parameters: object) -> HttpResponse:
    """The CSV as an attachment named cairn-<name>-<UTC time>.csv; the export recorded."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    filename = f"cairn-{name}-{stamp}.csv"
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    activity.record(request.user, activity.Action.EXPORTED_CSV, filename, **parameters)
    return response


def activity_row(item: Activity) -> dict[str, object]:
    return {
        "at": timestamps.iso(item.at),
        "user": item.user.get_username(),
        "action": item.get_action_display(),
        "subject": item.subject,
        "parameters": ", ".join(f"{key}={value}" for key, value in sorted(item.parameters.items())),
    }


class ActivityAdmin(LedgerAdmin):
    """Who viewed, verified, downloaded and ran what-ifs, and when. Nobody edits it."""

    list_display = ["when", "user", "action", "subject", "parameter_text"]
    list_select_related = ["user"]
    list_filter = [("user", admin.RelatedOnlyFieldListFilter), "action", "at"]
    search_fields = ["subject", "user__username"]
    date_hierarchy = "at"
    actions = ["export_csv"]

    class Media:
        css = {"all": ["audit/auditor.css"]}

    @admin.display(description="at", ordering="at")
    def when(self, item: Activity) -> str:
        return timestamps.shown(item.at)

    @admin.display(description="parameters")
    def parameter_text(self, item: Activity) -> object:
        return activity_row(item)["parameters"]

    @admin.action(description="Export selected activity (CSV)", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Activity]) -> HttpResponse:
        rows = (activity_row(item) for item in queryset.select_related("user").order_by("at", "id"))
        return csv_download(request, working_papers.to_csv(ACTIVITY_COLUMNS, rows), "activity", rows=queryset.count())
