"""§30D's bundle rules: what a clean vehicle credit bundle carries beyond
contract §8's common sections, and how `cairn-verify` recomputes its verdict.

The log, checkpoint, witness, key, proof, chain and report checks are every
regime's (cairn_core.bundle.check_log and its neighbours); this module adds
the claim, the §30D rule data the verdict applied (checked against the
log's `rules` entries), the verdict's own ledger entry, and the verdict
recomputed from the bundle's statements alone by the server's own code
(cairn_core.regimes.s30d.verdict), compared field by field with the signed one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from cairn_core import bundle as common
from cairn_core import cosignature, signed_note
from cairn_core.bundle import (
    INTEGRITY_CODES,
    NOT_RECOMPUTED,
    BundleDocument,
    Entry,
    ReportResult,
    Result,
    check_log,
    check_logged_rules,
    check_organizations,
    check_request,
    check_shape,
    check_verdict_entry,
    compare_findings,
    differences,
    json_text,
    reconcile,
    report_sha256,
    required_witnesses,
    signed_problems,
    sort_failures,
)
from cairn_core.ledger_entries import LedgerState
from cairn_core.payload import JSON, JSONObject
from cairn_core.problems import Code, Problem
from cairn_core.regimes.s30d import lineage, rules, ruleset_json
from cairn_core.regimes.s30d import verdict as verdicts


def verify_report(document: object, *, log_key: signed_note.Verifier | None = None) -> ReportResult:
    """A §30D verdict's signed report alone (contract §8, "Trust"): cairn_core.bundle.verify_report
    with §30D's payload type and verdict shape."""
    return common.verify_report(
        document, log_key=log_key, report_type=verdicts.REPORT_TYPE, check_shape=_check_verdict_shape
    )


def file_name(vin: str, verification_id: int) -> str:
    """Contract §8 (v1.2): two verifications of one VIN never share a name."""
    return f"{vin}.{verification_id}.cairn-bundle.json"


def verify(
    document: object,
    *,
    processes: int = 1,
    log_key: signed_note.Verifier | None = None,
    witnesses: Iterable[cosignature.WitnessKey] = (),
    witnesses_required: int | None = None,
) -> Result:
    """Every check of contract §8 over a parsed bundle (see the module docstring).

    `log_key` and `witnesses` are the keys the examiner trusts from elsewhere;
    at least `witnesses_required` (default: all) of the witnesses must have
    cosigned. ValueError when that number is impossible or a witness is
    given twice; NotABundle when the document is not a bundle.

    With `processes=2` (what `cairn-verify` uses on a machine with more than
    one core) the Ed25519 checks, half the work, run in a forked child
    process while this one checks the chains and the report and recomputes
    the verdict. (A thread does not help: libsodium releases the GIL, but a
    thread running Python beside it hands the GIL back too seldom.) Call it
    so only from a single-threaded program: forking copies one thread.
    """
    pinned = list(witnesses)
    required = required_witnesses(pinned, witnesses_required)
    document = check_shape(document)
    verdict = document["verdict"]
    result = Result(vin=document["vin"], verdict=verdict, witnesses_required=required)
    log = check_log(
        cast(Mapping[str, Any], document),
        result,
        processes=processes,
        log_key=log_key,
        pinned=pinned,
        report_type=verdicts.REPORT_TYPE,
    )
    ruleset = _rules(document["rules"], verdict, result)
    countries = check_organizations(document["organizations"], log.ledger, result)
    if log.ledger is not None:
        _check_logged_rules(ruleset, log.ledger, result)
    check_verdict_entry(
        cast(Mapping[str, Any], document), log, pinned, result, kind="verdict", expected=_expected_verdict_entry
    )
    _check_claim(document, log.entries, result)
    check_request(verdict, result)
    assessed = _assess(verdict, log.entries, countries, ruleset, result) if ruleset is not None else None
    result.add_problems(log.signatures(log.entries))
    if assessed is not None and log.checkpoint is not None:
        _compare(verdict, assessed, log.checkpoint, document["checkpoint"], result)
    sort_failures(result)
    return result


def _rules(document: Mapping[str, JSON], verdict: Mapping[str, object], result: Result) -> rules.RuleSet | None:
    try:
        ruleset = ruleset_json.from_json(document)
    except ruleset_json.RulesError as exc:
        result.fail(Code.RULES, str(exc))
        return None
    applied = verdict.get("applied")
    if not isinstance(applied, dict):
        applied = {}
    if ruleset.version != applied.get("rules_version"):
        wanted = applied.get("rules_version")
        result.fail(Code.RULES, f"the rules are version {ruleset.version}, the verdict's {wanted}")
    if ruleset_json.digest(ruleset) != applied.get("rules_sha256"):
        result.fail(Code.RULES, "the rule data is not the data the verdict applied (SHA-256 differs)")
    return ruleset


def _check_claim(document: BundleDocument, entries: list[Entry], result: Result) -> None:
    verdict = document["verdict"]
    if verdict.get("vin") != document["vin"]:
        result.fail(Code.VERDICT, f"the bundle is for VIN {document['vin']}, the verdict for {verdict.get('vin')}")
    claims = [entry for entry in entries if entry.index == verdict.get("claim_index")]
    if not claims:
        result.fail(Code.ENTRIES, f"the claim's entry {verdict.get('claim_index')} is not in the bundle")
        return
    payload = claims[0].decoded.payload
    if payload.get("type") != "claim" or payload.get("vin") != document["vin"]:
        result.fail(Code.VERDICT, f"entry {claims[0].index} is not the claim on VIN {document['vin']}", claims[0].index)


def _check_logged_rules(ruleset: rules.RuleSet | None, state: LedgerState, result: Result) -> None:
    """The rule data applied (already checked to be the verdict's) is a logged rules entry's."""
    if ruleset is None:
        return
    check_logged_rules(ruleset_json.digest(ruleset), ruleset.version, state.rules, result)


def _expected_verdict_entry(verdict: JSONObject) -> dict[str, object]:
    """The fields of a §30D verdict's `verdict` ledger entry, from the verdict."""
    return {
        "verification": verdict.get("id"),
        "vin": verdict.get("vin"),
        "claim_index": verdict.get("claim_index"),
        "credit_usd": verdict.get("credit_usd"),
        "integrity": verdict.get("integrity"),
        "requested_by": verdict.get("requested_by", {"organization": None, "user": None}),
        "report_sha256": report_sha256(verdict),
    }


@dataclass
class Assessed:
    """The rules applied to the bundle's statements (before the integrity checks are in)."""

    facts: lineage.ClaimFacts
    done: lineage.Assessment
    problems: list[Problem]
    ruleset: rules.RuleSet
    issuers: dict[str, str]


def _assess(
    verdict: JSONObject, entries: list[Entry], countries: Mapping[str, str], ruleset: rules.RuleSet, result: Result
) -> Assessed | None:
    statements = {entry.index: entry.decoded.payload for entry in entries}
    claim_index = verdict.get("claim_index")
    try:
        if claim_index is None:
            raise KeyError(None)  # as statements[None] would
        facts = verdicts.claim_facts(claim_index, statements[claim_index])
        dag = verdicts.upstream(statements, claim_index)
    except verdicts.READ_ERRORS as exc:
        result.fail(Code.VERDICT, f"the claim cannot be read from the bundle: {exc!r}")
        return None
    done, problems = verdicts.assess(facts, statements, dag, countries, ruleset)
    return Assessed(facts, done, problems, ruleset, verdicts.issuer_countries(statements, dag, countries))


def _compare(
    verdict: JSONObject, assessed: Assessed, checkpoint: signed_note.Checkpoint, checkpoint_text: str, result: Result
) -> None:
    """The verdict recomputed from the bundle alone, compared field by field with the signed one."""
    listed = signed_problems(verdict, result)
    broken = reconcile([item for item in listed if item.code in INTEGRITY_CODES], assessed.problems, result)
    recomputed = verdicts.build_verdict(
        assessed.facts,
        assessed.done,
        assessed.ruleset,
        broken=broken,
        checkpoint=checkpoint_text,
        checkpoint_size=checkpoint.tree_size,
        issuers=assessed.issuers,
    ).as_dict()
    result.recomputed = recomputed
    compare_findings(listed, [Problem.from_dict(item) for item in recomputed["problems"]], result)
    signed = {key: value for key, value in verdict.items() if key not in NOT_RECOMPUTED}
    mine = {key: value for key, value in recomputed.items() if key not in NOT_RECOMPUTED}
    for path, theirs, ours in differences(signed, mine):
        message = f"{path}: signed {json_text(theirs)}, recomputed {json_text(ours)}"
        result.fail(Code.VERDICT, message, None, (path, theirs, ours))


VERDICT_FIELDS = {
    "vin": str,
    "claim_index": int,
    "integrity": str,
    "credit_usd": str,
    "requirements": dict,
    "agreements": list,
    "problems": list,
    "checkpoint": str,
}


CREDITS = ("7500", "3750", "0")


def _check_verdict_shape(verdict: JSONObject, result: ReportResult) -> None:
    """Contract §5's verdict: its fields and types, its credit, and 0 when broken."""
    for name, kind in VERDICT_FIELDS.items():
        value = verdict.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            result.fail(Code.VERDICT, f"{name} is missing or not a JSON {kind.__name__}")
    if verdict.get("integrity") not in ("intact", "broken"):
        result.fail(Code.VERDICT, f"integrity is {verdict.get('integrity')!r}, not intact or broken")
    if verdict.get("credit_usd") not in CREDITS:
        result.fail(Code.VERDICT, f"credit_usd is {verdict.get('credit_usd')!r}, not one of {', '.join(CREDITS)}")
    elif verdict.get("integrity") == "broken" and verdict.get("credit_usd") != "0":
        result.fail(Code.VERDICT, "a broken verdict's credit_usd is 0")
    problems = verdict.get("problems")
    for number, item in enumerate(problems if isinstance(problems, list) else []):
        if not isinstance(item, dict) or set(item) != {"code", "message", "index"}:
            result.fail(Code.VERDICT, f"problems: item {number} is not {{code, message, index}}")
    check_request(verdict, result)
