"""Transparency log endpoints (contract §5): exact paths, no trailing slash."""

from django.urls import path

from provenance.api import log_views

urlpatterns = [
    path("checkpoint", log_views.CheckpointView.as_view(), name="log-checkpoint"),
    path("key", log_views.KeyView.as_view(), name="log-key"),
    path("witnesses", log_views.WitnessesView.as_view(), name="log-witnesses"),
    path("proof/inclusion", log_views.InclusionProofView.as_view(), name="log-inclusion"),
    path("proof/consistency", log_views.ConsistencyProofView.as_view(), name="log-consistency"),
    path("entries", log_views.EntriesView.as_view(), name="log-entries"),
]
