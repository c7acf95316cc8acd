"""From signed statements and a RuleSet to a claim's verdict (contract §5).

The server (`audit.engine`) and the offline bundle verifier
(`cairn_core.bundle`) both compute a verdict here, from the same inputs:

* the signed payloads of the claim's upstream DAG, by log index;
* which of them created the DAG's batches (`creators`) and which batches
  the DAG holds (`batches`): the server reads them from its batch links,
  the bundle verifier derives them from the payloads (`upstream`);
* the issuers' countries, and the `rules.RuleSet` applied.

`assess` turns those into `lineage.Assessment`; `Verdict` names each
requirement's figures and problems in the contract's shape. So the figures
an examiner recomputes from a bundle are, by construction, the server's.

Beyond contract §5's keys (v1.1 additions, computed here from the facts and
the RuleSet only):

* `scope`: what the verdict covers and what Cairn does not check, so that
  "7500" never reads as the credit allowed;
* `applied`: the dates, the schedule row, the rules version, the method,
  each requirement's status ("met", "not_met", "not_applicable",
  "not_assessed") with its statutory citation, and the FEOC
  impracticable-to-trace election.

Shown percentages are never rounded across the required one
(`lineage.pct_shown`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypedDict

from cairn_core import dsse
from cairn_core.dag import Graph, Step, attribution_factors, decimal_str
from cairn_core.problems import Problem, ProblemDict
from cairn_core.regimes.s30d import lineage, rules, ruleset_json
from cairn_core.regimes.s30d.lineage import Activity, Assessment, BatchFacts, ClaimFacts, SupplyChain, pct_shown

REPORT_TYPE = "application/vnd.cairn.verification+json"
READ_ERRORS = (KeyError, TypeError, ValueError, ArithmeticError, StopIteration, AttributeError)


# --- the DAG from the statements themselves --------------------------------------


@dataclass(frozen=True)
class Upstream:
    """A claim's upstream DAG: its batches and the entries that created them."""

    batches: frozenset[str]
    creators: tuple[int, ...]


def upstream(statements: Mapping[int, Mapping[str, Any]], claim_index: int) -> Upstream:
    """Walk from the claim's pack to the origins through the signed outputs and inputs.

    The batch's creator is the entry at or before the claim whose outputs
    name it; a transform's inputs are upstream batches in turn.
    """
    created_by: dict[str, int] = {}
    for index in sorted(statements):
        if index <= claim_index:
            for output in statements[index].get("outputs", ()):
                created_by.setdefault(output["batch"], index)
    batches: set[str] = set()
    pending = [statements[claim_index]["batch"]]
    while pending:
        batch = pending.pop()
        if batch in batches:
            continue
        batches.add(batch)
        creator = created_by.get(batch)
        if creator is not None and statements[creator].get("type") == "transform":
            pending.extend(item["batch"] for item in statements[creator]["inputs"])
    creators = sorted({created_by[batch] for batch in batches if batch in created_by})
    return Upstream(frozenset(batches), tuple(creators))


# --- statements to the computation's input ---------------------------------------


def occurred_on(payload: Mapping[str, Any]) -> dt.date:
    """The date the activity occurred (UTC), `issued_at` when not given."""
    return dt.date.fromisoformat((payload.get("occurred_at") or payload["issued_at"])[:10])


def claim_facts(index: int, payload: Mapping[str, Any]) -> ClaimFacts:
    return ClaimFacts(
        vin=payload["vin"],
        index=index,
        batch=payload["batch"],
        quantity=Decimal(payload["quantity"]),
        acquired=dt.date.fromisoformat(payload["acquired"]),
        placed_in_service=dt.date.fromisoformat(payload["placed_in_service"]),
        final_assembly_country=payload["final_assembly"]["country"],
    )


def supply_chain(
    statements: Mapping[int, Mapping[str, Any]],
    claim: ClaimFacts,
    dag: Upstream,
    org_countries: Mapping[str, str],
) -> SupplyChain:
    """Batches, transforms and attribution factors, from the signed statements."""
    batches: dict[str, BatchFacts] = {}
    made_by: dict[str, Step] = {}
    quantities: dict[str, Decimal] = {}
    for index in dag.creators:
        payload = statements[index]
        activity = Activity(
            index=index,
            kind=payload["activity"],
            country=payload["site"]["country"],
            issuer=payload["issuer"],
            issuer_country=org_countries.get(payload["issuer"], ""),
            occurred_on=occurred_on(payload),
        )
        step = _step(index, payload) if payload["type"] == "transform" else None
        for output in payload["outputs"]:
            if output["batch"] not in dag.batches:
                continue  # a sibling outside the DAG: only its quantity matters (in step)
            batches[output["batch"]] = _batch_facts(output, activity)
            quantities[output["batch"]] = Decimal(output["quantity"])
            if step is not None:
                made_by[output["batch"]] = step
    graph = Graph(quantities=quantities, made_by=made_by)
    fraction = claim.quantity / quantities[claim.batch]
    return SupplyChain(batches, graph, attribution_factors(graph, claim.batch, fraction))


def _step(index: int, payload: Mapping[str, Any]) -> Step:
    return Step(
        index=index,
        inputs={item["batch"]: Decimal(item["quantity"]) for item in payload["inputs"]},
        outputs={item["batch"]: Decimal(item["quantity"]) for item in payload["outputs"]},
    )


def _batch_facts(output: Mapping[str, Any], activity: Activity) -> BatchFacts:
    return BatchFacts(
        id=output["batch"],
        activity=activity,
        value_added_usd=Decimal(output["value_added_usd"]),
        minerals={name: Decimal(kg) for name, kg in output.get("minerals", {}).items()},
        component=output.get("component", ""),
    )


EMPTY_CHAIN = SupplyChain({}, Graph(quantities={}), {})


def issuer_countries(
    statements: Mapping[int, Mapping[str, Any]], dag: Upstream, org_countries: Mapping[str, str]
) -> dict[str, str]:
    """The country of each organisation that issued an entry creating a DAG batch.

    These are the organisation facts the rules read (FEOC: incorporated in a
    covered nation); the verdict names them so that a bundle's organisations
    cannot differ from those the verdict relied on unseen.
    """
    issuers = set()
    for index in dag.creators:
        try:
            issuers.add(statements[index]["issuer"])
        except READ_ERRORS:
            continue
    return {slug: org_countries.get(slug, "") for slug in sorted(issuers) if isinstance(slug, str)}


def assess(
    facts: ClaimFacts,
    statements: Mapping[int, Mapping[str, Any]],
    dag: Upstream,
    org_countries: Mapping[str, str],
    ruleset: rules.RuleSet,
) -> tuple[Assessment, list[Problem]]:
    """The rules applied to the DAG; an unreadable DAG assesses as empty, with a problem."""
    try:
        chain = supply_chain(statements, facts, dag, org_countries)
        problems = []
    except READ_ERRORS as exc:
        chain = EMPTY_CHAIN
        problems = [Problem(facts.index, "statement", f"the DAG's statements cannot be read: {exc!r}")]
    return lineage.assess(facts, chain, ruleset), problems


# --- the verdict ------------------------------------------------------------------


class Met(TypedDict):
    met: bool


class MineralsMet(TypedDict):
    met: bool
    qualifying_pct: str
    required_pct: str | None


class ComponentsMet(TypedDict):
    met: bool
    north_america_pct: str
    required_pct: str | None


class Requirements(TypedDict):
    """Contract §5's `requirements`: one entry per requirement."""

    critical_minerals: MineralsMet
    battery_components: ComponentsMet
    foreign_entity_of_concern: Met
    final_assembly: Met
    credit_in_force: Met


class NotChecked(TypedDict):
    check: str
    what: str
    citation: str


class Scope(TypedDict):
    """What a verdict covers (`checked`) and what Cairn does not check."""

    statement: str
    checked: list[str]
    not_checked: list[NotChecked]


class ScheduleRow(TypedDict):
    placed_in_service_from: str
    placed_in_service_to: str
    critical_minerals_pct: str
    battery_components_pct: str
    source: str


class Method(TypedDict):
    critical_minerals: str
    critical_minerals_computed: bool
    tracing: str
    mineral_value: str
    agreements_judged_on: str
    feoc_judged_on: str
    battery_components: str
    components_counted: list[str] | None
    regulations: str


class Basis(TypedDict):
    status: str  # "met", "not_met", "not_applicable" or "not_assessed"
    citation: str
    reason: str


class Election(TypedDict):
    elected: bool
    available: bool
    available_through: str | None
    items: list[str]
    applied: bool
    basis: str


class Applied(TypedDict):
    """The dates, schedule row, rules, method and per-requirement basis a verdict applied."""

    acquired: str
    placed_in_service: str
    final_assembly_country: str
    schedule_row: ScheduleRow | None
    rules_version: str
    rules_sha256: str
    issuer_countries: dict[str, str]
    method: Method
    requirements: dict[str, Basis]
    feoc_impracticable_to_trace: Election


class VerdictBody(TypedDict):
    """Contract §5's verdict without `id` and `report`, with v1.1's `scope` and `applied`."""

    vin: str
    claim_index: int
    integrity: str
    credit_usd: str
    requirements: Requirements
    agreements: list[str]
    problems: list[ProblemDict]
    checkpoint: str
    scope: Scope
    applied: Applied


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict; `as_dict()` is contract §5's shape without id and report."""

    vin: str
    claim_index: int
    integrity: str  # "intact" or "broken"
    credit_usd: str
    facts: ClaimFacts
    assessment: Assessment
    problems: tuple[Problem, ...]
    checkpoint: str
    checkpoint_size: int
    rules_version: str
    applied: Applied

    @property
    def required_pct(self) -> tuple[str | None, str | None]:
        required = self.assessment.required
        return (str(required[0]), str(required[1])) if required else (None, None)

    def requirements(self) -> Requirements:
        done = self.assessment
        minerals_required, components_required = self.required_pct
        required = done.required or (None, None)
        return {
            "critical_minerals": {
                "met": done.critical_minerals_met,
                "qualifying_pct": pct_shown(done.minerals, required[0]),
                "required_pct": minerals_required,
            },
            "battery_components": {
                "met": done.battery_components_met,
                "north_america_pct": pct_shown(done.north_america, required[1]),
                "required_pct": components_required,
            },
            "foreign_entity_of_concern": {"met": done.feoc_met},
            "final_assembly": {"met": done.final_assembly_met},
            "credit_in_force": {"met": done.credit_in_force_met},
        }

    def as_dict(self) -> VerdictBody:
        return {
            "vin": self.vin,
            "claim_index": self.claim_index,
            "integrity": self.integrity,
            "credit_usd": self.credit_usd,
            "requirements": self.requirements(),
            "agreements": self.assessment.agreements,
            "problems": [problem.as_dict() for problem in self.problems],
            "checkpoint": self.checkpoint,
            "scope": scope(),
            "applied": self.applied.copy(),
        }


def build_verdict(
    facts: ClaimFacts,
    done: Assessment,
    ruleset: rules.RuleSet,
    *,
    broken: Iterable[Problem],
    checkpoint: str,
    checkpoint_size: int,
    issuers: Mapping[str, str],
) -> Verdict:
    """The verdict from the assessment and every failed integrity check (`broken`)."""
    broken = list(broken)
    problems = sorted(broken + requirement_problems(facts, done, ruleset))
    return Verdict(
        vin=facts.vin,
        claim_index=facts.index,
        integrity="broken" if broken else "intact",
        credit_usd=decimal_str(done.credit(intact=not broken), 2),
        facts=facts,
        assessment=done,
        problems=tuple(problems),
        checkpoint=checkpoint,
        checkpoint_size=checkpoint_size,
        rules_version=ruleset.version,
        applied=applied(facts, done, ruleset, issuers),
    )


REQUIREMENT_CODES = frozenset(
    {"critical_minerals", "battery_components", "final_assembly", "foreign_entity_of_concern", "credit_in_force"}
)
REQUIREMENTS = (
    "critical_minerals",
    "battery_components",
    "foreign_entity_of_concern",
    "final_assembly",
    "credit_in_force",
)


def requirement_problems(facts: ClaimFacts, done: Assessment, ruleset: rules.RuleSet) -> list[Problem]:
    """One problem per failed requirement or doubtful fact; FEOC ones name the activity's entry."""
    problems = [Problem(facts.index, code, message) for code, message in _failures(facts, done, ruleset)]
    problems += [
        Problem(
            finding.index,
            "foreign_entity_of_concern",
            f"{finding.kind} activity by {finding.issuer}, a foreign entity of concern: " + "; ".join(finding.reasons),
        )
        for finding in done.feoc
    ]
    problems += _in_force_problems(facts, done, ruleset)
    problems += _statement_doubts(facts, done)
    return problems


def _in_force_problems(facts: ClaimFacts, done: Assessment, ruleset: rules.RuleSet) -> list[Problem]:
    problems = []
    if not done.acquired_in_force:
        ended = ruleset.credit.acquired_through
        message = f"vehicle acquired on {facts.acquired}, after the credit ended ({ended})"
        problems.append(Problem(facts.index, "credit_in_force", message))
    if not done.in_credit_period:
        message = (
            f"vehicle placed in service on {facts.placed_in_service}, before {ruleset.credit.credit_from}: "
            "the credit then was the earlier §30D credit (an amount by battery capacity), which Cairn does not compute"
        )
        problems.append(Problem(facts.index, "credit_in_force", message))
    return problems


def _statement_doubts(facts: ClaimFacts, done: Assessment) -> list[Problem]:
    """Signed facts an examiner must question: they change no figure by themselves."""
    problems = []
    if facts.placed_in_service < facts.acquired:
        message = (
            f"placed in service on {facts.placed_in_service}, before the vehicle was acquired ({facts.acquired}): "
            "one of the claim's dates is wrong"
        )
        problems.append(Problem(facts.index, "claim_dates", message))
    for split in done.split_values:
        message = (
            f"split output {split.batch} declares {decimal_str(split.value_usd, 2)} USD of value added: "
            "a split moves material and adds no value, so the value is not counted"
        )
        problems.append(Problem(split.index, "value_added", message))
    for index, batch in sorted({(item.source.index, item.origin) for item in done.lineages if _no_extraction(item)}):
        message = (
            f"origin {batch} declares no extraction value: its minerals can qualify only by processing "
            "(the 50% extraction test has no value to compare)"
        )
        problems.append(Problem(index, "value_added", message))
    return problems


def _no_extraction(item: lineage.Lineage) -> bool:
    return item.source.kind == "extraction" and item.source.value_usd == 0


def _failures(facts: ClaimFacts, done: Assessment, ruleset: rules.RuleSet) -> list[tuple[str, str]]:
    """(code, message) of the claim's own failed requirements."""
    failures = []
    if done.requirements_apply and done.required is None:
        message = f"no percentage applies to a vehicle placed in service on {facts.placed_in_service}"
        failures += [("critical_minerals", message), ("battery_components", message)]
    elif done.requirements_apply and done.required is not None:
        minerals = pct_shown(done.minerals, done.required[0])
        components = pct_shown(done.north_america, done.required[1])
        if done.minerals_method != rules.VALUE_ADDED_TEST:
            failures.append(("critical_minerals", _not_assessed(facts, ruleset)))
        elif not done.critical_minerals_met:
            failures.append(
                (
                    "critical_minerals",
                    f"qualifying critical mineral content {minerals}% is below the required {done.required[0]}%",
                )
            )
        if not done.battery_components_met:
            failures.append(
                (
                    "battery_components",
                    f"North American battery component content {components}% is below the required {done.required[1]}%",
                )
            )
    if not done.final_assembly_met:
        failures.append(("final_assembly", _outside_north_america(facts.final_assembly_country, ruleset)))
    return failures


def _not_assessed(facts: ClaimFacts, ruleset: rules.RuleSet) -> str:
    through = ruleset.credit.value_added_test_through
    return (
        f"not assessed: the vehicle was placed in service on {facts.placed_in_service}, and T.D. 9995 allows the 50% "
        f"value-added test only through {through}; the traced qualifying value test that applies after that date "
        "is not computed by Cairn, so the critical minerals requirement earns nothing in this verdict"
    )


def _outside_north_america(country: str, ruleset: rules.RuleSet) -> str:
    listed = ", ".join(sorted(ruleset.credit.north_america))
    if country.upper() in rules.US_TERRITORIES:
        return (
            f"final assembly in {country}, a US territory, which the rule data's North America ({listed}) "
            "does not include; Cairn does not treat territories as North America unless the rule data lists them"
        )
    return f"final assembly in {country} is outside North America"


# --- what the verdict covers and what it applied ------------------------------------

SCOPE_STATEMENT = (
    "credit_usd is the amount that the checks listed in 'checked' support for this vehicle, computed from the "
    "signed statements of its supply chain under the rules named in 'applied'. It is not the credit allowed: "
    "Cairn does not check the requirements listed in 'not_checked', nor that the signed statements are true."
)
NOT_CHECKED = (
    (
        "msrp_limit",
        "the manufacturer's suggested retail price limit ($55,000; $80,000 for vans, SUVs, pickups)",
        "IRC §30D(f)(11)",
    ),
    ("income_limit", "the buyer's modified adjusted gross income limit", "IRC §30D(f)(10)"),
    (
        "battery_capacity",
        "a battery of at least 7 kilowatt hours, rechargeable from an external source",
        "IRC §30D(d)(1)(F)",
    ),
    ("gross_vehicle_weight", "a gross vehicle weight rating under 14,000 pounds", "IRC §30D(d)(1)(E)"),
    ("qualified_manufacturer", "a vehicle made by a qualified manufacturer", "IRC §30D(d)(1)(C), (d)(3)"),
    (
        "seller_report",
        "the seller's report to the buyer and the IRS, and the VIN on the return",
        "IRC §30D(d)(1)(H), (f)(9)",
    ),
    ("buyer_use", "original use by the buyer, acquired for use or lease and not for resale", "IRC §30D(d)(1)(A), (B)"),
    ("statements_true", "that the signed statements are true (the manufacturer's due diligence)", "26 CFR §1.30D-6(b)"),
)


def scope() -> Scope:
    """What every verdict covers and does not: the same for every claim."""
    return {
        "statement": SCOPE_STATEMENT,
        "checked": [*REQUIREMENTS, "integrity"],
        "not_checked": [{"check": check, "what": what, "citation": cite} for check, what, cite in NOT_CHECKED],
    }


def applied(facts: ClaimFacts, done: Assessment, ruleset: rules.RuleSet, issuers: Mapping[str, str]) -> Applied:
    """The dates, schedule row, rules version, method and per-requirement basis applied.

    `rules_sha256` (of the rule data's canonical JSON, `cairn_core.regimes.s30d.ruleset_json`)
    and `issuer_countries` (the organisation facts the FEOC rules read) bind
    a proof bundle's rules and organisations to this signed verdict.
    """
    row = rules.schedule_row(ruleset, facts.placed_in_service)
    return {
        "acquired": facts.acquired.isoformat(),
        "placed_in_service": facts.placed_in_service.isoformat(),
        "final_assembly_country": facts.final_assembly_country,
        "schedule_row": _row(row) if row else None,
        "rules_version": ruleset.version,
        "rules_sha256": ruleset_json.digest(ruleset),
        "issuer_countries": dict(issuers),
        "method": _method(done, ruleset),
        "requirements": {code: _basis(code, facts, done, ruleset) for code in REQUIREMENTS},
        "feoc_impracticable_to_trace": _election(facts, ruleset),
    }


def _row(row: rules.PercentageRow) -> ScheduleRow:
    return {
        "placed_in_service_from": row.placed_in_service_from.isoformat(),
        "placed_in_service_to": row.placed_in_service_to.isoformat(),
        "critical_minerals_pct": str(row.critical_minerals_pct),
        "battery_components_pct": str(row.battery_components_pct),
        "source": row.source,
    }


def _method(done: Assessment, ruleset: rules.RuleSet) -> Method:
    counted = ruleset.credit.battery_components
    return {
        "critical_minerals": done.minerals_method,
        "critical_minerals_computed": done.minerals_method == rules.VALUE_ADDED_TEST,
        "tracing": "per_vehicle",
        "mineral_value": "origin_value_by_mineral_mass",
        "agreements_judged_on": "activity_date",
        "feoc_judged_on": "activity_date",
        "battery_components": "incremental_value",
        "components_counted": sorted(counted) if counted is not None else None,
        "regulations": ruleset.credit.regulations_source,
    }


def _basis(code: str, facts: ClaimFacts, done: Assessment, ruleset: rules.RuleSet) -> Basis:
    status, reason = _status(code, facts, done, ruleset)
    return {"status": status, "citation": rules.citation(ruleset, code), "reason": reason}


def _status(code: str, facts: ClaimFacts, done: Assessment, ruleset: rules.RuleSet) -> tuple[str, str]:
    pis = facts.placed_in_service
    if code in ("critical_minerals", "battery_components") and not done.requirements_apply:
        start = ruleset.credit.requirements_from
        return (
            "not_applicable",
            f"not applicable: outside the requirements' period (placed in service {pis}, before {start})",
        )
    if code == "critical_minerals" and done.minerals_method != rules.VALUE_ADDED_TEST:
        return "not_assessed", _not_assessed(facts, ruleset)
    if code == "foreign_entity_of_concern":
        return _feoc_status(pis, done, ruleset)
    met = {
        "critical_minerals": done.critical_minerals_met,
        "battery_components": done.battery_components_met,
        "final_assembly": done.final_assembly_met,
        "credit_in_force": done.credit_in_force_met,
    }[code]
    return ("met" if met else "not_met"), ""


def _feoc_status(pis: dt.date, done: Assessment, ruleset: rules.RuleSet) -> tuple[str, str]:
    applying = [kind for kind in rules.KINDS if rules.feoc_applies(ruleset, kind, pis)]
    if not applying:
        start = ruleset.feoc.components_from
        return "not_applicable", f"not applicable: no FEOC restriction applies before {start} (placed in service {pis})"
    reason = "applies to " + " and ".join(applying)
    return ("met" if done.feoc_met else "not_met"), reason


def _election(facts: ClaimFacts, ruleset: rules.RuleSet) -> Election:
    """The impracticable-to-trace transition, recorded as data: v1 claims cannot elect it."""
    until = ruleset.feoc.impracticable_until
    elected = False  # the v1 claim statement has no field for the election
    return {
        "elected": elected,
        "available": rules.may_exclude_from_tracing(ruleset, facts.placed_in_service, elected=True),
        "available_through": until.isoformat() if until else None,
        "items": list(ruleset.feoc.impracticable_items),
        "applied": rules.may_exclude_from_tracing(ruleset, facts.placed_in_service, elected=elected),
        "basis": "the claim elects nothing (no such field in cairn.attestation/v1): the FEOC test is applied in full",
    }


# --- the signed report ----------------------------------------------------------------


def report_payload(body: Mapping[str, object]) -> bytes:
    """The report's payload bytes: the verdict (with its id) as sorted, compact ASCII JSON."""
    return dsse.canonical_json(body).encode("ascii")
