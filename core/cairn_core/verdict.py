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
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from cairn_core import dsse, lineage, rules, ruleset_json
from cairn_core.dag import Graph, Step, attribution_factors, decimal_str
from cairn_core.lineage import Activity, Assessment, BatchFacts, ClaimFacts, SupplyChain, pct_str
from cairn_core.problems import Problem

REPORT_TYPE = "application/vnd.cairn.verification+json"
READ_ERRORS = (KeyError, TypeError, ValueError, ArithmeticError, StopIteration, AttributeError)


# --- the DAG from the statements themselves --------------------------------------


@dataclass(frozen=True)
class Upstream:
    """A claim's upstream DAG: its batches and the entries that created them."""

    batches: frozenset[str]
    creators: tuple[int, ...]


def upstream(statements: Mapping[int, Mapping], claim_index: int) -> Upstream:
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


def occurred_on(payload: Mapping) -> dt.date:
    """The date the activity occurred (UTC), `issued_at` when not given."""
    return dt.date.fromisoformat((payload.get("occurred_at") or payload["issued_at"])[:10])


def claim_facts(index: int, payload: Mapping) -> ClaimFacts:
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
    statements: Mapping[int, Mapping],
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


def _step(index: int, payload: Mapping) -> Step:
    return Step(
        index=index,
        inputs={item["batch"]: Decimal(item["quantity"]) for item in payload["inputs"]},
        outputs={item["batch"]: Decimal(item["quantity"]) for item in payload["outputs"]},
    )


def _batch_facts(output: Mapping, activity: Activity) -> BatchFacts:
    return BatchFacts(
        id=output["batch"],
        activity=activity,
        value_added_usd=Decimal(output["value_added_usd"]),
        minerals={name: Decimal(kg) for name, kg in output.get("minerals", {}).items()},
        component=output.get("component", ""),
    )


EMPTY_CHAIN = SupplyChain({}, Graph(quantities={}), {})


def issuer_countries(
    statements: Mapping[int, Mapping], dag: Upstream, org_countries: Mapping[str, str]
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
    statements: Mapping[int, Mapping],
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
    rules_sha256: str = ""
    issuer_countries: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def required_pct(self) -> tuple[str | None, str | None]:
        required = self.assessment.required
        return (str(required[0]), str(required[1])) if required else (None, None)

    def requirements(self) -> dict:
        done = self.assessment
        minerals_required, components_required = self.required_pct
        return {
            "critical_minerals": {
                "met": done.critical_minerals_met,
                "qualifying_pct": pct_str(done.minerals.pct),
                "required_pct": minerals_required,
            },
            "battery_components": {
                "met": done.battery_components_met,
                "north_america_pct": pct_str(done.north_america.pct),
                "required_pct": components_required,
            },
            "foreign_entity_of_concern": {"met": done.feoc_met},
            "final_assembly": {"met": done.final_assembly_met},
            "credit_in_force": {"met": done.credit_in_force_met},
        }

    def as_dict(self) -> dict:
        return {
            "vin": self.vin,
            "claim_index": self.claim_index,
            "integrity": self.integrity,
            "credit_usd": self.credit_usd,
            "requirements": self.requirements(),
            "agreements": self.assessment.agreements,
            "problems": [problem.as_dict() for problem in self.problems],
            "checkpoint": self.checkpoint,
            "rules_version": self.rules_version,
            "rules_sha256": self.rules_sha256,
            "issuer_countries": dict(self.issuer_countries),
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
        rules_sha256=ruleset_json.digest(ruleset),
        issuer_countries=issuers,
    )


REQUIREMENT_CODES = frozenset(
    {"critical_minerals", "battery_components", "final_assembly", "foreign_entity_of_concern", "credit_in_force"}
)


def requirement_problems(facts: ClaimFacts, done: Assessment, ruleset: rules.RuleSet) -> list[Problem]:
    """One problem per failed requirement; FEOC ones name the activity's entry."""
    problems = [Problem(facts.index, code, message) for code, message in _failures(facts, done)]
    problems += [
        Problem(
            finding.index,
            "foreign_entity_of_concern",
            f"{finding.kind} activity by {finding.issuer}, a foreign entity of concern: " + "; ".join(finding.reasons),
        )
        for finding in done.feoc
    ]
    if not done.credit_in_force_met:
        ended = ruleset.credit.acquired_through
        message = f"vehicle acquired on {facts.acquired}, after the credit ended ({ended})"
        problems.append(Problem(facts.index, "credit_in_force", message))
    return problems


def _failures(facts: ClaimFacts, done: Assessment) -> list[tuple[str, str]]:
    """(code, message) of the claim's own failed requirements."""
    failures = []
    if done.required is None:
        message = f"no percentage applies to a vehicle placed in service on {facts.placed_in_service}"
        failures += [("critical_minerals", message), ("battery_components", message)]
    else:
        minerals, components = (pct_str(done.minerals.pct), pct_str(done.north_america.pct))
        if not done.critical_minerals_met:
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
        country = facts.final_assembly_country
        failures.append(("final_assembly", f"final assembly in {country} is outside North America"))
    return failures


# --- the signed report ----------------------------------------------------------------


def report_payload(body: Mapping) -> bytes:
    """The report's payload bytes: the verdict (with its id) as sorted, compact ASCII JSON."""
    return dsse.canonical_json(body).encode("ascii")
