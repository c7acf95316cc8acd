"""The admin home's red banner while integrity incidents are unresolved."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html

from audit.models import IntegrityIncident

register = template.Library()


@register.simple_tag
def incident_banner() -> str:
    """A red banner naming the unresolved (open or acknowledged) incidents; empty when none."""
    unresolved = IntegrityIncident.objects.exclude(state=IntegrityIncident.State.RESOLVED)
    count = unresolved.count()
    if not count:
        return ""
    opened = unresolved.filter(state=IntegrityIncident.State.OPEN).count()
    url = reverse("admin:audit_integrityincident_changelist") + "?state__exact=open"
    return format_html(
        '<div class="cairn-incident-banner" id="cairn-incident-banner" role="alert">'
        "<strong>Ledger integrity: {} unresolved incident{} ({} open).</strong> "
        '<a href="{}">See what changed and what it undermines</a></div>',
        count,
        "" if count == 1 else "s",
        opened,
        url,
    )
