"""Ledger endpoints (contract §5): exact paths, no trailing slash."""

from django.urls import path

from provenance.api import grammar_views, views

urlpatterns = [
    path("keys", views.KeyListView.as_view(), name="key-list"),
    path("organization", views.OrganizationView.as_view(), name="organization"),
    path("keys/<str:keyid>/revoke", views.KeyRevokeView.as_view(), name="key-revoke"),
    path("attestations", views.AttestationListView.as_view(), name="attestation-list"),
    path("attestations/schema", grammar_views.attestation_schema, name="attestation-schema"),
    path("attestations/batch", views.AttestationBatchView.as_view(), name="attestation-batch"),
    path("attestations/validate", views.AttestationValidateView.as_view(), name="attestation-validate"),
    path("attestations/<int:index>", views.AttestationDetailView.as_view(), name="attestation-detail"),
    path("batches", views.BatchListView.as_view(), name="batch-list"),
    path("batches/<str:batch_id>", views.BatchDetailView.as_view(), name="batch-detail"),
    path("batches/<str:batch_id>/provenance", views.BatchProvenanceView.as_view(), name="batch-provenance"),
    path("batches/<str:batch_id>/epcis", views.BatchEpcisView.as_view(), name="batch-epcis"),
]
