"""What the auditors' admin pages show: read-only page data, built from the ledger.

* `claim_graph`: a claim's upstream DAG as Cytoscape.js elements, each batch
  coloured by the rules (country qualification of its minerals, FEOC).
* `verdict_details`: a stored verdict explained, requirement by requirement,
  with the lineages, components and FEOC findings behind its figures. They
  are recomputed by the engine's own pure functions (`audit.engine.assess_dag`)
  under the rules as they stood when the verification ran.
* `integrity_status`: the latest checkpoint, the last check runs and the
  progress of a full one, when each part of the ledger was last checked, and
  the open incidents.

The pages themselves (views, templates) are in audit.admin.verdicts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q
from django.urls import NoReverseMatch, reverse

from agreements.models import TradeAgreement
from agreements.snapshot import load_ruleset
from audit import checks, engine, verdict_text
from audit.models import IntegrityCheckRun, IntegrityIncident, Verification
from cairn_core import dsse
from cairn_core.dag import decimal_str
from cairn_core.regimes.s30d import rules
from cairn_core.regimes.s30d.lineage import COMPONENT_KINDS, Assessment, feoc_kind, pct_shown
from provenance import checkpoints, ledger_key
from provenance.models import Batch, Checkpoint, Claim, Entry, LogState
from provenance.selectors import upstream_graph

# Node colours of the provenance graph (also in the legend).
QUALIFYING, NON_QUALIFYING, FEOC, COMPONENT, VEHICLE = (
    "qualifying",
    "non-qualifying",
    "feoc",
    "component",
    "vehicle",
)


def admin_url(viewname: str, *args: object) -> str:
    try:
        return reverse(viewname, args=args)
    except NoReverseMatch:
        return ""


def entry_url(index: int | None) -> str:
    return admin_url("admin:provenance_entry_change", index) if index is not None else ""


def batch_url(batch_id: str) -> str:
    return admin_url("admin:provenance_batch_change", batch_id)


# --- the provenance graph -------------------------------------------------------


@dataclass(frozen=True)
class Creator:
    """What the graph needs of the entry that created a batch."""

    index: int
    activity: str
    issuer: str
    issuer_country: str
    occurred_on: dt.date


def creators_of(batches: Mapping[str, Batch]) -> dict[int, Creator]:
    indexes = {batch.created_by_id for batch in batches.values()}
    rows = Entry.objects.filter(index__in=indexes).values_list(
        "index", "statement", "issuer_id", "issuer__country", "occurred_at"
    )
    return {
        index: Creator(index, statement.get("activity", ""), issuer, str(country), occurred.date())
        for index, statement, issuer, country, occurred in rows
    }


def batch_node(batch: Batch, creator: Creator, ruleset: rules.RuleSet) -> dict:
    """One batch as a graph node: its colour says what the rules make of it."""
    country = batch.site_country.code
    qualification = {
        mineral: rules.country_qualifies(ruleset, country, mineral, creator.occurred_on) for mineral in batch.carries
    }
    kind = feoc_kind(creator.activity)
    feoc_reasons = (
        rules.feoc_reasons(ruleset, creator.issuer, creator.issuer_country, country, creator.occurred_on, kind)
        if kind
        else []
    )
    is_component = creator.activity in COMPONENT_KINDS and bool(batch.component)
    if feoc_reasons:
        colour = FEOC
    elif is_component or not qualification:
        colour = COMPONENT
    elif all(qualification.values()):
        colour = QUALIFYING
    else:
        colour = NON_QUALIFYING
    return {
        "id": batch.id,
        "label": f"{batch.material}\n{creator.issuer} · {country}",
        "colour": colour,
        "north_america": country in ruleset.credit.north_america,
        "material": batch.material,
        "quantity": f"{decimal_str(batch.quantity)} {batch.unit}",
        "activity": creator.activity,
        "component": batch.component,
        "issuer": creator.issuer,
        "country": country,
        "occurred_on": creator.occurred_on.isoformat(),
        "minerals": {
            mineral: {
                "qualifies": bool(found),
                "reason": found.reason,
                "agreements": [ref.slug for ref in found.agreements],
            }
            for mineral, found in sorted(qualification.items())
        },
        "feoc": feoc_reasons,
        "entry": creator.index,
        "batch_url": batch_url(batch.id),
        "entry_url": entry_url(creator.index),
    }


def claim_graph(claim: Claim, ruleset: rules.RuleSet) -> dict:
    """Cytoscape elements for the DAG from the mines to the claim's vehicle."""
    graph, batches = upstream_graph(claim.batch_id)
    creators = creators_of(batches)
    nodes = [
        {"data": batch_node(batch, creators[batch.created_by_id], ruleset)}
        for batch in sorted(batches.values(), key=lambda item: (item.created_by_id, item.id))
    ]
    vehicle = f"vehicle:{claim.vin}"
    nodes.append(
        {
            "data": {
                "id": vehicle,
                "label": f"vehicle {claim.vin}\nassembled in {claim.final_assembly_country.code}",
                "colour": VEHICLE,
                "north_america": claim.final_assembly_country.code in ruleset.credit.north_america,
                "entry": claim.entry_id,
                "entry_url": entry_url(claim.entry_id),
            }
        }
    )
    edges = [
        {
            "data": {
                "id": f"e{position}",
                "source": source,
                "target": target,
                "label": f"#{index}",
                "quantity": decimal_str(quantity),
            }
        }
        for position, (source, target, index, quantity) in enumerate(graph.edges())
    ]
    edges.append({"data": {"id": "claim", "source": claim.batch_id, "target": vehicle, "label": "claim"}})
    return {"nodes": nodes, "edges": edges}


COLOUR_WORDS = {
    QUALIFYING: "site country qualifies",
    NON_QUALIFYING: "site country does not qualify",
    FEOC: "foreign entity of concern",
    COMPONENT: "battery component",
    VEHICLE: "the claimed vehicle",
}


def graph_text(graph: Mapping[str, list[dict]]) -> dict:
    """The graph in words, its text alternative: a one-line summary and each batch
    with what it was made from (the edges), in the graph's order."""
    nodes = [node["data"] for node in graph["nodes"]]
    inputs: dict[str, list[str]] = {}
    for edge in graph["edges"]:
        inputs.setdefault(edge["data"]["target"], []).append(edge["data"]["source"])
    batches = [node for node in nodes if node["colour"] != VEHICLE]
    counts = {colour: sum(1 for node in batches if node["colour"] == colour) for colour in COLOUR_WORDS}
    countries = sorted({node["country"] for node in batches})
    summary = (
        f"{len(batches)} batches from {len(countries)} countries ({', '.join(countries)}): "
        f"{counts[QUALIFYING]} qualifying, {counts[NON_QUALIFYING]} not qualifying, "
        f"{counts[FEOC]} by a foreign entity of concern, {counts[COMPONENT]} components"
    )
    items = [
        {
            "label": node["label"].replace("\n", ", "),
            "colour": COLOUR_WORDS[node["colour"]],
            "entry": node.get("entry"),
            "entry_url": node.get("entry_url", ""),
            "from": inputs.get(node["id"], []),
        }
        for node in nodes
    ]
    return {"summary": summary, "items": items}


# --- a verdict explained ----------------------------------------------------------


def rules_for(verification: Verification) -> rules.RuleSet:
    """The rules as they stood when the verification ran."""
    return load_ruleset(as_of=verification.requested_at)


def assessment_of(claim: Claim, ruleset: rules.RuleSet) -> Assessment:
    """The engine's assessment of the claim's DAG (no integrity check, nothing stored)."""
    dag = engine.load_claim_dag(claim)
    statements = {index: entry.statement for index, entry in dag.entries.items()}
    _facts, assessment, _problems = engine.assess_dag(claim, dag, statements, ruleset)
    return assessment


HALF = Decimal(50)


def usd(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def lineage_rows(assessment: Assessment) -> list[dict]:
    rows = []
    for lineage in sorted(assessment.lineages, key=lambda item: -item.value_usd):
        stages = [lineage.source, *lineage.processing]
        rows.append(
            {
                "origin": lineage.origin,
                "origin_url": batch_url(lineage.origin),
                "mineral": lineage.mineral,
                "mass_kg": decimal_str(lineage.mass_kg, 3),
                "value_usd": usd(lineage.value_usd),
                # Against the 50% test: never rounded across it.
                "extraction_pct": pct_shown(lineage.extraction_share, HALF),
                "processing_pct": pct_shown(lineage.processing_share, HALF),
                "qualifies": lineage.qualifies,
                "agreements": sorted(lineage.agreements),
                "stages": [
                    {
                        "index": stage.index,
                        "url": entry_url(stage.index),
                        "kind": stage.kind,
                        "country": stage.country,
                        "value_usd": usd(stage.value_usd),
                        "qualifies": stage.qualifies,
                        "agreements": list(stage.agreements),
                    }
                    for stage in stages
                ],
            }
        )
    return rows


def component_rows(assessment: Assessment) -> list[dict]:
    return [
        {
            "index": item.index,
            "url": entry_url(item.index),
            "batch": item.batch,
            "batch_url": batch_url(item.batch),
            "component": item.component,
            "country": item.country,
            "value_usd": usd(item.value_usd),
            "north_american": item.north_american,
            "counts": item.counts,
        }
        for item in sorted(assessment.components, key=lambda item: item.index)
    ]


METHOD_LABELS = {
    "value_added_50pct": "the 50% value-added test (T.D. 9995's transition rule, through 2026-12-31)",
    "traced_qualifying_value": "the traced qualifying value test, which Cairn does not compute: not assessed",
    "not_applicable": "none: the requirement does not apply on the placed-in-service date",
}


def method_lines(applied: Mapping) -> list[str]:
    """The verdict's method, in words (from the stored verdict, as signed)."""
    method = applied.get("method") or {}
    if not method:
        return []
    counted = method.get("components_counted")
    return [
        "critical minerals: " + METHOD_LABELS.get(method["critical_minerals"], method["critical_minerals"]),
        "tracing: per vehicle, through the signed statements of its battery's supply chain",
        "a mixed origin's value shared among its minerals by mass",
        "agreements and FEOC status judged on each activity's date",
        "battery components: incremental value of "
        + (", ".join(verdict_text.words(name) for name in counted) if counted else "every named component")
        + " (a pack's assembly is not a component)",
    ]


def feoc_rows(assessment: Assessment) -> list[dict]:
    return [
        {
            "index": item.index,
            "url": entry_url(item.index),
            "kind": item.kind,
            "issuer": item.issuer,
            "reasons": list(item.reasons),
        }
        for item in assessment.feoc
    ]


def agreement_rows(slugs: list[str]) -> list[dict]:
    found = TradeAgreement.objects.in_bulk(slugs)
    return [
        {
            "slug": slug,
            "title": found[slug].title if slug in found else "",
            "url": admin_url("admin:agreements_tradeagreement_change", slug),
        }
        for slug in slugs
    ]


def problem_rows(problems: list[dict]) -> list[dict]:
    return [{**problem, "url": entry_url(problem.get("index"))} for problem in problems]


def report_check(report: Mapping | None) -> str:
    """Whether the stored report's signature verifies with the ledger key."""
    if not report:
        return "no report"
    key = ledger_key.current()
    try:
        envelope = dsse.envelope_from_dict(report)
    except dsse.EnvelopeError as exc:
        return f"malformed: {exc}"
    for signature in envelope.signatures:
        if signature.keyid == key.keyid and dsse.verify_signature(key.public_key, envelope.pae, signature.sig):
            return "verifies with the ledger key"
    return "does NOT verify with the current ledger key"


def verdict_details(verification: Verification) -> dict:
    """Everything the verdict page shows beyond the stored verdict itself."""
    claim = verification.claim
    verdict = verification.verdict
    ruleset = rules_for(verification)
    assessment = assessment_of(claim, ruleset)
    requirements = verdict.get("requirements", {})
    graph = claim_graph(claim, ruleset)
    return {
        "claim": claim,
        "verdict": verdict,
        "requirements": requirements,
        "lineages": lineage_rows(assessment),
        "components": component_rows(assessment),
        "feoc": feoc_rows(assessment),
        "feoc_applies": {kind: rules.feoc_applies(ruleset, kind, claim.placed_in_service) for kind in rules.KINDS},
        "feoc_terms": ruleset.feoc,
        "credit_terms": ruleset.credit,
        "agreements": agreement_rows(verdict.get("agreements", [])),
        "scope": verdict.get("scope"),
        "scope_text": verdict_text.SCOPE_TEXT,
        "explanation": verdict_text.explain(verdict, rules.credit_amounts(ruleset)),
        "applied": verdict.get("applied"),
        "method_lines": method_lines(verdict.get("applied") or {}),
        "applied_rows": verdict_text.applied_rows(verdict.get("applied") or {}),
        "problems": problem_rows(verdict.get("problems", [])),
        "rules_match": ruleset.version == verification.rules_version,
        "breakdown_rules_version": ruleset.version,
        "report_check": report_check(verification.report),
        "report_keyid": (verification.report or {}).get("signatures", [{}])[0].get("keyid", ""),
        "graph": graph,
        "graph_text": graph_text(graph),
    }


# --- integrity ---------------------------------------------------------------------


def integrity_status() -> dict:
    latest = Checkpoint.objects.order_by("-tree_size").first()
    state = LogState.objects.filter(id=1).first()
    full_check = checks.full_check_progress()
    incidents = IntegrityIncident.objects.filter(resolved_at__isnull=True)
    verdicts = Verification.objects.aggregate(total=Count("id"), broken=Count("id", filter=Q(integrity="broken")))
    return {
        "checkpoint": latest,
        "checkpoint_problem": checkpoints.verify_note(latest) if latest else None,
        "log_size": state.size if state else 0,
        "unpublished": (state.size if state else 0) - (latest.tree_size if latest else 0),
        "checkpoint_count": Checkpoint.objects.count(),
        "runs": list(IntegrityCheckRun.objects.order_by("-started_at")[:10]),
        "full_check": full_check,
        "full_check_running": bool(full_check and full_check.running),
        "coverage": checks.ledger_coverage(state.size if state else 0),
        "open_incidents": list(incidents.order_by("-detected_at")[:50]),
        "open_incident_count": incidents.count(),
        "incident_count": IntegrityIncident.objects.count(),
        "counts": {
            "entries": state.size if state else 0,
            "batches": Batch.objects.count(),
            "claims": Claim.objects.count(),
            "verifications": verdicts["total"],
            "broken verdicts": verdicts["broken"],
        },
        "ledger_key": ledger_key.current(),
    }
