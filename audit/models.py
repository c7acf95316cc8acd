"""Audit records."""
