"""Rule data endpoints (read from the agreements app): exact paths, no trailing slash."""

from django.urls import path

from provenance.api import minerals

urlpatterns = [
    path("critical-minerals", minerals.CriticalMineralListView.as_view(), name="critical-mineral-list"),
]
