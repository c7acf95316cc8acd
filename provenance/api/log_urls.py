"""Transparency log endpoints (contract §5): filled in by the log work."""

urlpatterns: list = []
