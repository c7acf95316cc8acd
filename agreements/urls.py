"""Rule data endpoints: exact paths, no trailing slash."""

from django.urls import path

from agreements import api

urlpatterns = [
    path("critical-minerals", api.CriticalMineralListView.as_view(), name="critical-mineral-list"),
]
