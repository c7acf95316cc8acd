"""Audit records: integrity incidents and check runs (and, later, verdicts)."""

from audit.models.incident import IntegrityCheckRun, IntegrityIncident
from audit.models.verification import Verification

__all__ = ["IntegrityCheckRun", "IntegrityIncident", "Verification"]
