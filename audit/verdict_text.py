"""A stored verdict in plain words: the sentence that explains its amount.

Pure: reads the verdict as signed (contract §5) and the credit's two amounts
(IRC §30D(b)(2) and (3)); no database. The verdict pages, the CSV export and
the PDF all say the same sentence:

    $3,750: critical minerals met (+$3,750); battery components 24.95%, below 60% (+$0)
    $0: a foreign entity of concern disqualifies the vehicle

A gate that fails (integrity, FEOC, final assembly, the credit in force)
zeroes the amount whatever the two requirements say, so the sentence names
the first gate that fails, in the order of `cairn_core.regimes.s30d.lineage.Assessment.credit`,
with integrity first: a verdict on entries that do not verify earns nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from cairn_core.regimes.s30d.rules import CreditAmounts

# The scope, as the verdict pages say it (the signed statement names JSON fields).
SCOPE_TEXT = (
    "The amount is what the checks on this page support for this vehicle, computed from the signed statements "
    "of its supply chain under the rules applied. It is not the credit allowed: Cairn does not check the "
    "requirements listed under \u201cWhat this verdict does not cover\u201d, nor that the signed statements are true."
)


def dollars(amount: Decimal | str) -> str:
    """$3,750 (cents only when there are any)."""
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        return f"${amount}"
    shown = f"{value:,.2f}"
    return f"${shown.removesuffix('.00')}"


# The requirements and their statuses as the verdict pages name them (the signed verdict keeps the codes).
REQUIREMENT_NAMES = {
    "critical_minerals": "Critical minerals",
    "battery_components": "Battery components",
    "foreign_entity_of_concern": "Foreign entity of concern",
    "final_assembly": "Final assembly in North America",
    "credit_in_force": "Credit in force",
}
STATUS_WORDS = {
    "met": "met",
    "not_met": "not met",
    "not_applicable": "not applicable",
    "not_assessed": "not assessed",
}


def words(code: str) -> str:
    """A code in words: battery_cell -> battery cell."""
    return code.replace("_", " ")


def applied_rows(applied: Mapping[str, Any]) -> list[dict[str, str]]:
    """The "Rules applied" table: each requirement's name, status, citation and reason in words."""
    return [
        {
            "code": code,
            "name": REQUIREMENT_NAMES.get(code, words(code).capitalize()),
            "status": str(basis.get("status", "")),
            "status_text": STATUS_WORDS.get(str(basis.get("status", "")), words(str(basis.get("status", "")))),
            "citation": str(basis.get("citation", "")),
            "reason": str(basis.get("reason", "")),
        }
        for code, basis in (applied.get("requirements") or {}).items()
    ]


def _status(verdict: Mapping[str, Any], code: str) -> str:
    """The requirement's status as applied (v1.1), or met/not_met from the requirements alone."""
    basis = ((verdict.get("applied") or {}).get("requirements") or {}).get(code) or {}
    if basis.get("status"):
        return str(basis["status"])
    met = (verdict.get("requirements") or {}).get(code, {}).get("met")
    return "met" if met else "not_met"


def gate_failure(verdict: Mapping[str, Any]) -> str:
    """Why the vehicle earns nothing whatever its content, or "" when every gate passes."""
    if verdict.get("integrity") == "broken":
        count = len(verdict.get("problems") or [])
        return f"the ledger's integrity is broken for this claim ({count} problem{'' if count == 1 else 's'})"
    if _status(verdict, "foreign_entity_of_concern") == "not_met":
        return "a foreign entity of concern disqualifies the vehicle"
    if _status(verdict, "final_assembly") == "not_met":
        country = (verdict.get("applied") or {}).get("final_assembly_country")
        where = f" ({country})" if country else ""
        return f"final assembly outside North America{where} disqualifies the vehicle"
    if _status(verdict, "credit_in_force") == "not_met":
        return "the credit is not in force for this vehicle's dates"
    return ""


def requirement_part(verdict: Mapping[str, Any], code: str, earns: Decimal) -> str:
    """One requirement's clause with what it earns, e.g. "battery components 24.95%, below 60% (+$0)"."""
    name = code.replace("_", " ")
    requirement = (verdict.get("requirements") or {}).get(code) or {}
    shown = requirement.get("qualifying_pct" if code == "critical_minerals" else "north_america_pct")
    required = requirement.get("required_pct")
    status = _status(verdict, code)
    if status == "not_applicable":
        return f"{name} not required on the placed-in-service date (+{dollars(earns)})"
    if status == "not_assessed":
        return f"{name} not assessed: the 50% value-added test no longer applies (+$0)"
    if status == "met":
        return f"{name} met (+{dollars(earns)})"
    if required is None:
        return f"{name}: no percentage applies on the placed-in-service date (+$0)"
    return f"{name} {shown}%, below {required}% (+$0)"


def explain(verdict: Mapping[str, Any], amounts: CreditAmounts) -> str:
    """The one plain sentence that explains the verdict's amount."""
    total = dollars(verdict.get("credit_usd", "0"))
    failure = gate_failure(verdict)
    if failure:
        return f"{total}: {failure}"
    parts = (
        requirement_part(verdict, "critical_minerals", amounts.critical_minerals),
        requirement_part(verdict, "battery_components", amounts.battery_components),
    )
    return f"{total}: {'; '.join(parts)}"
