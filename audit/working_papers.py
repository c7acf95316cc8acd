"""The auditor's working papers as CSV: claims and their verdicts, one row each.

Cells are written by Python's csv module (RFC 4180 quoting: a cell with a
comma, a quote or a line break is quoted, its quotes doubled). A cell whose
text a spreadsheet would read as a formula (it starts with =, +, -, @, a tab
or a carriage return; OWASP's "CSV injection") is written with a leading
apostrophe, so that a VIN, a user name or a problem message from a supplier
can never run in the auditor's spreadsheet. Numbers written by Cairn itself
(amounts, tree sizes, ids) are never negative, so none is altered.

Timestamps are ISO 8601 in UTC with a Z, as the signed verdicts write them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from audit import timestamps, verdict_text
from audit.models import Verification
from cairn_core.regimes.s30d.rules import CreditAmounts
from provenance.models import Claim

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

VERDICT_COLUMNS = (
    "verification",
    "vin",
    "credit_usd",
    "integrity",
    "explanation",
    "rules_version",
    "checkpoint_size",
    "verified_at",
    "requested_by",
    "problems",
)
CLAIM_COLUMNS = ("vin", "manufacturer", "placed_in_service", "acquired", "final_assembly_country", *VERDICT_COLUMNS[2:])


def safe_cell(value: object) -> str:
    """The cell's text, with a leading apostrophe when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def requested_by(verification: Verification) -> str:
    """Who asked, as the signed report says (v1.2), else as the row says."""
    signed = verification.verdict.get("requested_by")
    if isinstance(signed, Mapping):
        user = signed.get("user") or "no user (a command)"
        organization = signed.get("organization")
        return f"{user} ({organization})" if organization else str(user)
    if verification.requested_by is not None:
        return verification.requested_by.get_username()
    return "no user (a command)"


def problems_text(problems: Iterable[Mapping[str, Any]]) -> str:
    """Each problem as "code at #index: message", one per line."""
    lines = []
    for problem in problems:
        where = f" at #{problem['index']}" if problem.get("index") is not None else ""
        lines.append(f"{problem.get('code', '')}{where}: {problem.get('message', '')}")
    return "\n".join(lines)


def verdict_row(verification: Verification, amounts: CreditAmounts) -> dict[str, object]:
    verdict = verification.verdict
    return {
        "verification": verification.pk,
        "vin": verification.claim_id,
        "credit_usd": verification.credit_usd,
        "integrity": verification.integrity,
        "explanation": verdict_text.explain(verdict, amounts),
        "rules_version": verification.rules_version,
        "checkpoint_size": verification.checkpoint_size,
        "verified_at": timestamps.iso(verdict.get("verified_at") or verification.requested_at),
        "requested_by": requested_by(verification),
        "problems": problems_text(verdict.get("problems") or []),
    }


def claim_row(claim: Claim, latest: Verification | None, amounts: CreditAmounts) -> dict[str, object]:
    """A claim with its latest verdict (the verdict's cells empty when it has none)."""
    verdict = verdict_row(latest, amounts) if latest is not None else {"credit_usd": "not verified"}
    return {
        "vin": claim.vin,
        "manufacturer": claim.manufacturer_id,
        "placed_in_service": claim.placed_in_service.isoformat(),
        "acquired": claim.acquired.isoformat(),
        "final_assembly_country": claim.final_assembly_country.code,
        **{column: verdict.get(column, "") for column in VERDICT_COLUMNS[2:]},
    }


def to_csv(columns: tuple[str, ...], rows: Iterable[Mapping[str, object]]) -> str:
    """A header line, then one line per row; every cell formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(row.get(column)) for column in columns])
    return out.getvalue()


def verdicts_csv(verifications: Iterable[Verification], amounts: CreditAmounts) -> str:
    return to_csv(VERDICT_COLUMNS, (verdict_row(item, amounts) for item in verifications))


def claims_csv(claims: Iterable[Claim], amounts: CreditAmounts) -> str:
    """Each claim with its latest verdict, in one query for the verdicts."""
    claims = list(claims)
    latest: dict[str, Verification] = {}
    rows = Verification.objects.filter(claim__in=claims).select_related("requested_by").order_by("requested_at", "id")
    for verification in rows:
        latest[verification.claim_id] = verification
    return to_csv(CLAIM_COLUMNS, (claim_row(claim, latest.get(claim.vin), amounts) for claim in claims))
