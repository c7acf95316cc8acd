"""A §45X verdict told in words, for the auditors' pages (from the verdict document alone).

    outcome_sentence(verdict) -> "Pass: 61.10% of the direct material costs ($61,100 of $100,000) …"
    input_story(item, verdict, names) -> the sentences saying why an input is, or is not, attributed

Every figure is the document's as signed (amounts as exact as it gives
them, the ratio as the core shows it: truncated, never rounded up across
the threshold), so that the words never say more than the verdict does.
Entry indexes are returned beside the words (`Said.entry`), for the page to
link them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

OUTCOME_NAMES = {
    "pass": "Pass",
    "fail": "Fail",
    "incomplete": "Incomplete",
    "excepted": "Excepted",
    "not_applicable": "Not applicable",
}
CLASS_NAMES = {
    "battery_cell": "battery cell",
    "battery_module": "battery module",
    "electrode_active_material": "electrode active material",
    "critical_mineral": "applicable critical mineral",
}
KIND_NAMES = {"specified": "specified foreign entity", "foreign_influenced": "foreign-influenced entity"}
# Why the evidence is incomplete, as the core's reasons name it.
INCOMPLETE = {
    "missing_cost": "an input has no direct material cost",
    "own_production": "an input is the taxpayer's own production, whose direct materials are not traced",
    "no_creating_entry": "no logged entry creates an input",
    "no_direct_materials": "the batch has no direct materials",
    "no_direct_material_cost": "the direct material costs add up to $0",
}
IGNORED = {
    "wrong_party": "its issuer is not the supplier of the batch",
    "wrong_taxpayer": "it certifies to another taxpayer",
    "wrong_year": "it is for another taxable year",
    "revoked_key": "the key that signed it has been revoked",
    "no_issuer_key": "no key of its issuer, registered when it was logged, signed it",
}
STATUS_RULES = {
    "last_day_of_taxable_year": "the last day of the taxable year",
    "first_day_of_taxable_year": "the first day of the taxable year",
}


def words(code: str) -> str:
    """A code as words: "direct_material_costs" -> "direct material costs"."""
    return code.replace("_", " ")


SOLD_SOURCES = {
    "sale": "the sale",
    "assumed_taxable_year": "assumed: no sale is logged, so the taxable year is taken",
    "what_if": "the what-if",
}


def usd(amount: str | Decimal | None) -> str:
    """$38,900 or $41,000.5: every digit the verdict gives, grouped by thousands."""
    if amount is None:
        return "not known"
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        return f"${amount}"
    return f"${value:,f}"


def percent(ratio: str | None) -> str:
    """A stored ratio ("0.980000000000") as a percentage truncated to two places ("98.00%")."""
    if ratio is None:
        return "not known"
    shown = (Decimal(ratio) * 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return f"{shown}%"


def class_name(verdict: Mapping[str, Any]) -> str:
    found = verdict["component"]["class"]
    return CLASS_NAMES.get(found["name"], found["name"]) if found else "component"


def outcome_sentence(verdict: Mapping[str, Any]) -> str:
    """The verdict in one sentence: its outcome and the figures that decided it."""
    outcome = verdict["outcome"]
    name = OUTCOME_NAMES.get(outcome, outcome)
    share = _share(verdict)
    threshold = verdict["threshold"]
    sold = verdict["year_sold"]["year"]
    if verdict["integrity"] == "broken":
        return f"{name}: the evidence fails its integrity checks (see the problems){_figures(share)}."
    if outcome in ("pass", "fail"):
        side = "at least" if outcome == "pass" else "below"
        return f"{name}: {share}, {side} the {threshold['percent']}% a {class_name(verdict)} sold in {sold} must reach."
    if outcome == "excepted":
        contract = verdict["existing_contract"]
        return (
            f"{name}: every sale of the batch is under a binding written contract finalised before "
            f"{contract['binding_before']} and was sold before {contract['sold_before']}, so the material "
            f"assistance rules do not apply to it{_figures(share)}."
        )
    if outcome == "not_applicable":
        if verdict["component"]["class"] is None:
            component = verdict["component"]["component"] or "no component"
            return f"{name}: the batch's component ({component}) is not of a class §45X names."
        return f"{name}: the rule data has no threshold for a {class_name(verdict)} sold in {sold}."
    reasons = [INCOMPLETE.get(reason.removeprefix("evidence: "), reason) for reason in verdict["reasons"]]
    return f"{name}: {'; '.join(reasons)}{_figures(share)}."


def _share(verdict: Mapping[str, Any]) -> str:
    ratio, totals = verdict["macr"], verdict["totals"]
    if ratio is None:
        return ""
    return (
        f"{ratio['percent_shown']}% of the direct material costs ({usd(totals['non_pfe_usd'])} of "
        f"{usd(totals['direct_material_cost_usd'])}) are not attributed to prohibited foreign entities"
    )


def _figures(share: str) -> str:
    return f" ({share})" if share else ""


@dataclass(frozen=True)
class Said:
    """One sentence about an input, and the entry it rests on (None: none)."""

    text: str
    entry: int | None = None


def input_story(item: Mapping[str, Any], verdict: Mapping[str, Any], names: Mapping[str, str]) -> list[Said]:
    """Why the input is, in whole or in part, or is not attributed to prohibited foreign entities.

    `names` are organisations' names by slug (a designated entity need not be one).
    """
    supplier = item["supplier"]
    who = f"{names.get(supplier, supplier)} ({supplier})" if supplier else "its supplier"
    reasons = item["reasons"]
    said = [Said(INCOMPLETE[reason].capitalize() + ".") for reason in reasons if reason in INCOMPLETE]
    said += [_designated(found, verdict) for found in item["designations"]]
    certification = item["certification"]
    taxpayer, year = verdict["taxpayer"], verdict["taxable_year"]
    if "missing_certification" in reasons:
        said.append(Said(f"No certification by {who} to {taxpayer} for {year} counts: the whole cost is attributed."))
    elif certification is not None:
        said.append(_certified(item, certification, who, designated=bool(item["designations"])))
    said += [
        Said(
            f"Entry #{ignored['index']} ({ignored['status']}, by {ignored['issuer']} to {ignored['taxpayer']} "
            f"for {ignored['taxable_year']}) does not count: {IGNORED.get(ignored['reason'], ignored['reason'])}.",
            ignored["index"],
        )
        for ignored in item["certifications_ignored"]
    ]
    return said


def _designated(found: Mapping[str, Any], verdict: Mapping[str, Any]) -> Said:
    status = verdict["status_date"]
    until = f" until {found['until']} (exclusive)" if found["until"] else ""
    checked = "confirmed" if found["confirmed"] else "unconfirmed"
    return Said(
        f"Its supplier, {found['name']} ({found['entity']}), is designated a prohibited foreign entity "
        f"({KIND_NAMES.get(found['kind'], found['kind'])}: {found['basis']}) from {found['from']}{until}, so it is "
        f"one on {status['date']}, the status date of {verdict['taxable_year']}: the whole cost is attributed. "
        f"Source: {found['source']} ({checked})."
    )


def _certified(item: Mapping[str, Any], certification: Mapping[str, Any], who: str, *, designated: bool) -> Said:
    index = certification["index"]
    reasons = item["reasons"]
    if "revoked_certification" in reasons:
        text = f"The certification that counts, entry #{index} by {who}, revokes it: the whole cost is attributed."
    elif "contrary_certification" in reasons:
        text = (
            f"The certification that counts, entry #{index} by {who}, does not state that the batch was not "
            "produced by a prohibited foreign entity, or that no prior supplier is one: the whole cost is attributed."
        )
    elif designated:
        text = f"Its certification, entry #{index}, does not clear it: the designation decides."
    elif "certified_pfe_share" in reasons:
        text = (
            f"Certified by {who} in entry #{index}: {percent(item['non_pfe_share'])} of its direct material costs "
            f"not produced by a prohibited foreign entity, so the rest, {usd(item['pfe_attributed_usd'])} of "
            f"{usd(item['direct_material_cost_usd'])}, is attributed."
        )
    else:
        text = (
            f"Certified by {who} in entry #{index}: not produced by a prohibited foreign entity, no knowledge of "
            "one among prior suppliers: nothing is attributed."
        )
    return Said(text, index)


def year_sold_text(verdict: Mapping[str, Any]) -> str:
    """The year sold and where it comes from."""
    sold = verdict["year_sold"]
    sale = sold["sale"]
    if sale is not None:
        binding = f", under a binding contract of {sale['binding_contract_on']}" if sale["binding_contract_on"] else ""
        return f"{sold['year']}, from the sale of {sale['sold_on']} (entry #{sale['index']}){binding}"
    return f"{sold['year']} ({SOLD_SOURCES.get(sold['source'], sold['source'])})"


def year_sold_short(verdict: Mapping[str, Any]) -> str:
    """The year sold in a few words, for a list: "2026 (sale #410)", "2026 (assumed)"."""
    sold = verdict["year_sold"]
    if sold["sale"] is not None:
        return f"{sold['year']} (sale #{sold['sale']['index']})"
    return f"{sold['year']} ({'assumed' if sold['source'] == 'assumed_taxable_year' else sold['source']})"
