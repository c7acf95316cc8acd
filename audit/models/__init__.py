"""Audit records: integrity incidents and check runs, verdicts, the users' activity."""

from audit.models.activity import Activity
from audit.models.incident import IntegrityCheckPart, IntegrityCheckRun, IntegrityIncident, RangeSeal
from audit.models.verification import MacrVerification, Verification

__all__ = [
    "Activity",
    "IntegrityCheckPart",
    "IntegrityCheckRun",
    "IntegrityIncident",
    "MacrVerification",
    "RangeSeal",
    "Verification",
]
