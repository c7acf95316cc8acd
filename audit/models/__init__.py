"""Audit records: integrity incidents and check runs (and, later, verdicts)."""

from audit.models.incident import IntegrityCheckPart, IntegrityCheckRun, IntegrityIncident, RangeSeal
from audit.models.verification import Verification

__all__ = ["IntegrityCheckPart", "IntegrityCheckRun", "IntegrityIncident", "RangeSeal", "Verification"]
