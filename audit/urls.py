"""Verification endpoints (contract §5): exact paths, no trailing slash."""

from django.urls import path

from audit import api, macr_api

urlpatterns = [
    path("incidents", api.IncidentListView.as_view(), name="incident-list"),
    path("verifications", api.VerificationListView.as_view(), name="verification-list"),
    path(
        "verifications/<int:verification_id>",
        api.VerificationDetailView.as_view(),
        name="verification-detail",
    ),
    path(
        "verifications/<int:verification_id>/bundle",
        api.VerificationBundleView.as_view(),
        name="verification-bundle",
    ),
    path("batches/<str:batch_id>/macr", macr_api.BatchMacrView.as_view(), name="batch-macr"),
    path("macr-verifications", macr_api.MacrVerificationListView.as_view(), name="macr-verification-list"),
    path(
        "macr-verifications/<int:verification_id>",
        macr_api.MacrVerificationDetailView.as_view(),
        name="macr-verification-detail",
    ),
    path(
        "macr-verifications/<int:verification_id>/bundle",
        macr_api.MacrVerificationBundleView.as_view(),
        name="macr-verification-bundle",
    ),
]
