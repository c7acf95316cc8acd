"""Auditors' verification of claims, integrity checks and incidents."""
