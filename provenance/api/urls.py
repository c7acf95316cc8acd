"""Ledger endpoints (contract §5)."""

urlpatterns: list = []
