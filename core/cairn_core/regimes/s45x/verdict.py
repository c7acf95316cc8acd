"""The §45X material assistance verdict of a component batch for a taxable year.

`build` turns a `macr.Macr` and the rules into the verdict document
(docs/contract-45x.md, "The verdict"): the outcome and why, the totals and
the ratio (shown truncated, never rounded up across the threshold), the
threshold with its source and `confirmed` flag, the year sold and where it
comes from, the existing-contract exception, every input with the entry
that created it and the certifications it relied on or ignored, the
status date, what the verdict does not check (with citations), and the
rules version. The server signs it with the ledger key (`REPORT_TYPE`);
the offline verifier recomputes it from a bundle with the same code.

Outcome, in this order: "incomplete" when an integrity check failed;
"not_applicable" when the component is not of an eligible class, or no
threshold covers the year sold; "excepted" when every sale of the batch
falls under the existing-contract exception; "incomplete" when a cost, a
creating entry or any direct material at all is missing, or an input is
the taxpayer's own production; else "pass" when the exact MACR is at least
the threshold, "fail" when it is below.

`what_if` recomputes it with a designation added or removed, integrity
problems counted as the verdict counts them. No Django import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from cairn_core import dsse
from cairn_core.entries import Key
from cairn_core.problems import Problem
from cairn_core.regimes.s45x import macr as macrs
from cairn_core.regimes.s45x.rules import REGIME, Designation, Rules, Sourced, Threshold

REPORT_TYPE = "application/vnd.cairn.macr-verification+json"
OUTCOMES = ("pass", "fail", "incomplete", "excepted", "not_applicable")
SCOPE_STATEMENT = (
    "The outcome says whether the direct material costs and the certifications signed in the log, under the rule "
    "data named by rules_version, give this component batch a material assistance cost ratio at least the "
    "threshold for its class and year sold. It is not the credit allowed: Cairn does not check what is listed in "
    "'not_checked', nor that the signed statements are true."
)
NOT_CHECKED = (
    (
        "taxpayer_status",
        "whether the taxpayer itself is a specified foreign entity or a foreign-influenced entity",
        "IRC §45X(c)(1)(C); IRC §7701(a)(51)",
    ),
    (
        "effective_control",
        "payments to a prohibited foreign entity under licensing or other agreements giving it effective control",
        "IRC §7701(a)(51)(D)",
    ),
    ("related_party_sale", "that the component was sold to an unrelated person", "IRC §45X(a)(1)(B), (d)(4)"),
    (
        "safe_harbor_tables",
        "the identification and cost percentage safe harbours of the domestic content tables",
        "IRS Notice 2026-15, §4",
    ),
    (
        "supplier_tracing",
        "the supplier's own tracing beyond its certification (certifications are taken as signed)",
        "IRC §7701(a)(52)(D)(iii); IRC §6695B",
    ),
    (
        "cost_allocation",
        "that each direct material cost is the taxpayer's cost under its method of accounting",
        "IRS Notice 2026-15, §3",
    ),
    (
        "fiscal_year",
        "taxable years other than the calendar year (the status date is taken in the calendar year)",
        "IRC §7701(a)(51); IRC §441",
    ),
    ("production", "that the component was produced by the taxpayer in the United States", "IRC §45X(d)(2)"),
)


@dataclass(frozen=True)
class YearSold:
    year: int
    source: str  # "sale", "assumed_taxable_year" or "what_if"
    governing: macrs.Sale | None  # the sale whose year decides the threshold


def year_sold(result: macrs.Macr, rules: Rules, what_if_year: int | None) -> YearSold:
    """The year whose threshold applies: given by a what-if, else the sales' (the one with the highest
    threshold, when they span more than one), else the taxable year, said to be assumed."""
    if what_if_year is not None:
        return YearSold(what_if_year, "what_if", None)
    if not result.sales:
        return YearSold(result.taxable_year, "assumed_taxable_year", None)
    name = result.component_class.name if result.component_class else ""

    def strictness(sale: macrs.Sale) -> tuple[Decimal, dt.date, int]:
        row = rules.threshold(name, sale.sold_on)
        return (row.percent if row else Decimal(-1), sale.sold_on, sale.index)

    governing = max(result.sales, key=strictness)
    return YearSold(governing.sold_on.year, "sale", governing)


def sold_on_for(sold: YearSold) -> dt.date:
    """The date the threshold is looked up on: the governing sale's, or the last day of the year assumed."""
    return sold.governing.sold_on if sold.governing is not None else dt.date(sold.year, 12, 31)


def excepted(result: macrs.Macr, rules: Rules) -> bool:
    """Every sale of the batch under a binding contract before the cut-off and sold before the end."""
    contract = rules.existing_contract
    return bool(result.sales) and all(contract.excepts(sale.binding_contract_on, sale.sold_on) for sale in result.sales)


def outcome(
    result: macrs.Macr, threshold: Threshold | None, *, broken: bool, is_excepted: bool
) -> tuple[str, list[str]]:
    """The outcome and the reasons for it, in the module docstring's order."""
    if broken:
        return "incomplete", ["integrity: a check of the evidence's entries failed (see problems)"]
    if result.component_class is None:
        what = result.component or "no component"
        return "not_applicable", [f"component_class: {what} is not an eligible component class of the rule data"]
    if threshold is None:
        return "not_applicable", [f"threshold: no threshold for {result.component_class.name} in the year sold"]
    if is_excepted:
        return "excepted", ["existing_contract: every sale is under a binding contract before the cut-off"]
    if result.incomplete or result.ratio is None:
        return "incomplete", [f"evidence: {reason}" for reason in result.incomplete]
    if result.ratio * 100 >= Fraction(threshold.percent):
        return "pass", [f"macr: at least the threshold of {threshold.percent}%"]
    return "fail", [f"macr: below the threshold of {threshold.percent}%"]


def build(
    result: macrs.Macr,
    rules: Rules,
    *,
    checkpoint: str,
    problems: Iterable[Problem] = (),
    what_if_year: int | None = None,
    what_if: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """The verdict document without `id`, `verified_at`, `requested_by` and `report` (the server's)."""
    problems = sorted(problems)
    sold = year_sold(result, rules, what_if_year)
    name = result.component_class.name if result.component_class else None
    threshold = rules.threshold(name, sold_on_for(sold)) if name else None
    is_excepted = excepted(result, rules)
    status_day, status_rule, status_source = rules.status_date_of(result.taxable_year)
    decided, reasons = outcome(result, threshold, broken=bool(problems), is_excepted=is_excepted)
    return {
        "regime": REGIME,
        "batch": result.batch,
        "taxpayer": result.taxpayer,
        "taxable_year": result.taxable_year,
        "component": {
            "index": result.creator.index,
            "entry_hash": result.creator.entry_hash,
            "component": result.component or None,
            "class": _class(result),
        },
        "outcome": decided,
        "reasons": reasons,
        "integrity": "broken" if problems else "intact",
        "totals": _totals(result),
        "macr": _ratio(result, threshold),
        "threshold": _threshold(threshold),
        "year_sold": _year_sold(sold),
        "existing_contract": {
            "applies": is_excepted,
            "binding_before": rules.existing_contract.binding_before.isoformat(),
            "sold_before": rules.existing_contract.sold_before.isoformat(),
            **rules.existing_contract.sourced.as_json(),
        },
        "status_date": {"date": status_day.isoformat(), "rule": status_rule, **status_source.as_json()},
        "inputs": [_input(item) for item in result.inputs],
        "problems": [problem.as_dict() for problem in problems],
        "checkpoint": checkpoint,
        "scope": scope(),
        "rules_version": rules.version,
        "what_if": dict(what_if) if what_if is not None else None,
    }


def _class(result: macrs.Macr) -> dict[str, object] | None:
    found = result.component_class
    return {"name": found.name, **found.sourced.as_json()} if found else None


def _usd(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def _totals(result: macrs.Macr) -> dict[str, str | None]:
    """The total, the part attributed to PFEs (rounded up to 1e-9 USD when not exact: never less PFE
    than computed) and the rest (the total minus the part shown, so that the two add up)."""
    if result.total is None or result.attributed is None:
        return {"direct_material_cost_usd": None, "pfe_attributed_usd": None, "non_pfe_usd": None}
    attributed = macrs.ceiling_decimal(result.attributed, macrs.USD_PLACES)
    return {
        "direct_material_cost_usd": str(result.total),
        "pfe_attributed_usd": _plain(attributed),
        "non_pfe_usd": _plain(result.total - attributed),
    }


def _amount(value: Fraction) -> str:
    """An attributed amount in USD: exact when it has at most nine places, else rounded up."""
    return _plain(macrs.ceiling_decimal(value, macrs.USD_PLACES))


def _plain(value: Decimal) -> str:
    """A Decimal without trailing zeros or exponent: 40.000000000 -> "40"."""
    return format(value.normalize(), "f") if value else "0"


def _ratio(result: macrs.Macr, threshold: Threshold | None) -> dict[str, str] | None:
    if result.ratio is None:
        return None
    stored = result.ratio_stored
    return {
        "ratio": str(stored),
        "percent_shown": macrs.percent_shown(result.ratio, threshold.percent if threshold else None),
    }


def _threshold(threshold: Threshold | None) -> dict[str, object] | None:
    if threshold is None:
        return None
    return {
        "percent": str(threshold.percent),
        "class": threshold.component_class,
        "sold_from": threshold.sold_from.isoformat(),
        "sold_through": threshold.sold_through.isoformat() if threshold.sold_through else None,
        **threshold.sourced.as_json(),
    }


def _year_sold(sold: YearSold) -> dict[str, object]:
    sale = sold.governing
    return {
        "year": sold.year,
        "source": sold.source,
        "sale": {
            "index": sale.index,
            "entry_hash": sale.entry_hash,
            "sold_on": sale.sold_on.isoformat(),
            "binding_contract_on": sale.binding_contract_on.isoformat() if sale.binding_contract_on else None,
        }
        if sale is not None
        else None,
    }


def _input(item: macrs.InputResult) -> dict[str, object]:
    return {
        "batch": item.batch,
        "supplier": item.supplier or None,
        "creating_index": item.creating_index,
        "creating_entry_hash": item.creating_entry_hash,
        "direct_material_cost_usd": _usd(item.cost),
        "pfe_attributed_usd": _amount(item.attributed) if item.cost is not None else None,
        "reasons": list(item.reasons),
        "designations": [_designation(found) for found in item.designations],
        "certification": _use(item.governing) if item.governing else None,
        "non_pfe_share": str(macrs.floor_decimal(item.non_pfe_share, macrs.RATIO_PLACES))
        if item.non_pfe_share is not None
        else None,
        "certifications_ignored": [_use(use) for use in item.certifications if use.reason],
    }


def _use(use: macrs.CertificationUse) -> dict[str, object]:
    found: dict[str, object] = {"index": use.index, "entry_hash": use.entry_hash, "status": use.status}
    if use.reason:
        found.update(
            {"issuer": use.issuer, "taxpayer": use.taxpayer, "taxable_year": use.taxable_year, "reason": use.reason}
        )
    return found


def _designation(found: Designation) -> dict[str, object]:
    return {
        "entity": found.entity,
        "name": found.name,
        "kind": found.kind,
        "basis": found.basis,
        "from": found.start.isoformat(),
        "until": found.until.isoformat() if found.until else None,
        **found.sourced.as_json(),
    }


def scope() -> dict[str, object]:
    """What every §45X verdict covers and does not: the same for every batch."""
    return {
        "statement": SCOPE_STATEMENT,
        "checked": [
            "component_class",
            "direct_material_costs",
            "certifications",
            "designations",
            "threshold",
            "existing_contract",
            "integrity",
        ],
        "not_checked": [{"check": check, "what": what, "citation": cite} for check, what, cite in NOT_CHECKED],
    }


# --- from statements to a verdict, in one call ------------------------------------------


def verdict_of(
    statements: Iterable[macrs.Logged],
    batch: str,
    taxable_year: int,
    rules: Rules,
    keys: Mapping[str, Key],
    *,
    as_of: dt.datetime,
    checkpoint: str,
    problems: Iterable[Problem] = (),
    what_if_year: int | None = None,
) -> dict[str, Any]:
    """The verdict document of `batch` for `taxable_year` from the logged statements (any superset of the
    evidence: `macr.gather` picks it) and the keys as the log says. EvidenceError when nothing creates `batch`."""
    evidence = macrs.gather(statements, batch)
    result = macrs.compute(evidence, taxable_year, rules, keys, as_of)
    return build(result, rules, checkpoint=checkpoint, problems=problems, what_if_year=what_if_year)


def what_if(
    statements: Iterable[macrs.Logged],
    batch: str,
    taxable_year: int,
    rules: Rules,
    keys: Mapping[str, Key],
    *,
    as_of: dt.datetime,
    checkpoint: str,
    problems: Iterable[Problem] = (),
    designate: Designation | None = None,
    undesignate: str | None = None,
    year_sold: int | None = None,
) -> dict[str, Any]:
    """The verdict as it would be with `designate` added, every designation of `undesignate` removed,
    or the batch sold in `year_sold`: not signed, and its `what_if` says what was changed. With
    `problems` (the evidence's integrity problems, as `verdict_of` takes them) it is "incomplete",
    as the verdict is: no designation makes broken evidence whole."""
    changed = rules
    asked: dict[str, object] = {}
    if designate is not None:
        changed = changed.with_designation(designate)
        asked["designate"] = _designation(designate)
    if undesignate is not None:
        changed = changed.without_designations(undesignate)
        asked["undesignate"] = undesignate
    if year_sold is not None:
        asked["year_sold"] = year_sold
    evidence = macrs.gather(statements, batch)
    result = macrs.compute(evidence, taxable_year, changed, keys, as_of)
    return build(result, changed, checkpoint=checkpoint, problems=problems, what_if_year=year_sold, what_if=asked)


def designation(
    entity: str, name: str, kind: str, basis: str, start: dt.date, source: str, until: dt.date | None = None
) -> Designation:
    """A designation for a what-if (unconfirmed: nobody checked it against a list)."""
    return Designation(entity, name, kind, basis, start, until, Sourced(source, False))


def report_payload(body: Mapping[str, object]) -> bytes:
    """The signed report's payload bytes: the verdict (with its id) as sorted, compact ASCII JSON."""
    return dsse.canonical_json(body).encode("ascii")
