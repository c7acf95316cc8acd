"""Read-only admin for integrity incidents and check runs; the audited agreements admin."""

from django.contrib import admin

from audit import agreement_admin
from audit.models import IntegrityCheckRun, IntegrityIncident


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IntegrityIncident)
class IntegrityIncidentAdmin(ReadOnlyAdmin):
    list_display = ["index", "code", "message", "detected_at", "detected_by", "resolved_at"]
    list_filter = ["code", "detected_by", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["message", "=index"]
    date_hierarchy = "detected_at"


@admin.register(IntegrityCheckRun)
class IntegrityCheckRunAdmin(ReadOnlyAdmin):
    list_display = ["kind", "start", "end", "started_at", "finished_at", "problem_count"]
    list_filter = ["kind"]


agreement_admin.register()
