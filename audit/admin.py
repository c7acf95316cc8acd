"""Read-only admin for integrity incidents and check runs; the audited agreements admin."""

from django.contrib import admin

from audit import agreement_admin
from audit.incident_admin import IntegrityIncidentAdmin
from audit.models import IntegrityCheckRun, IntegrityIncident


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(IntegrityIncident, IntegrityIncidentAdmin)


@admin.register(IntegrityCheckRun)
class IntegrityCheckRunAdmin(ReadOnlyAdmin):
    list_display = ["kind", "start", "end", "started_at", "finished_at", "problem_count"]
    list_filter = ["kind"]


agreement_admin.register()
