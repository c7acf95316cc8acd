"""Entries linked to the agreements they relied on (provenance.linking).

Ledger rows are written directly (tests/ledger_rows.py).
"""

from tests.ledger_rows import fresh_rule_cache, rows

__all__ = ["fresh_rule_cache", "rows"]
