"""Suppliers' signed attestations, batches and the hash-chained ledger."""
