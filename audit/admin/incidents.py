"""The incidents' admin: each incident with its suspect, consequences and
problems, and the form by which auditors and superusers acknowledge or
resolve it with a comment (audit.incidents.respond)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from audit import incidents
from audit.models import IntegrityIncident, Verification


class IntegrityIncidentAdmin(admin.ModelAdmin):
    """Read-only rows; the one write is the response (acknowledge, resolve) on the incident's page."""

    list_display = ["id", "state", "suspect", "message", "detected_at", "detected_by"]
    list_filter = ["state", "code", "detected_by"]
    search_fields = ["message", "suspect", "=index"]
    date_hierarchy = "detected_at"
    change_form_template = "admin/audit/integrityincident/change_form.html"
    # The page's own section says the rest in words (message, suspect, consequences, checks, response).
    fieldsets = [("Recorded as", {"fields": ["state", "code", "index", "detected_by", "fingerprint"]})]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_urls(self):
        own = [
            path(
                "<int:incident_id>/respond/",
                self.admin_site.admin_view(require_POST(self.respond_view)),
                name="audit_integrityincident_respond",
            )
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        incident = IntegrityIncident.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        extra = dict(extra_context or {})
        if incident is not None:
            rests = incident.consequences or {}
            extra.update(
                incident=incident,
                can_respond=request.user.has_perm(incidents.RESPOND_PERMISSION)
                and incident.state != IntegrityIncident.State.RESOLVED,
                affected=Verification.objects.filter(id__in=rests.get("verifications", [])).order_by("-id"),
                claims=rests.get("claims", []),
                chains=rests.get("chains", []),
            )
        return super().change_view(request, object_id, form_url, extra)

    def respond_view(self, request: HttpRequest, incident_id: int) -> HttpResponse:
        incident = get_object_or_404(IntegrityIncident, pk=incident_id)
        to = request.POST.get("to", "")
        try:
            incidents.respond(incident.pk, acting_user=request.user, to=to, comment=request.POST.get("comment", ""))
        except incidents.ResponseRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Incident {incident.pk} {to}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:audit_integrityincident_change", args=[incident.pk]))
