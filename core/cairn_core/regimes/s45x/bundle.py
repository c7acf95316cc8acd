"""The proof bundle of a §45X verdict, and its offline verifier (docs/contract-45x.md, "The bundle").

A §45X bundle is a contract §8 bundle with a `regime` section:

    {"bundle": "cairn.bundle/v1", "regime": "45x",
     "batch": "<component batch>", "taxable_year": 2026,
     "verdict": {...the §45X verdict, id, verified_at, requested_by and report included...},
     "log", "checkpoint", "cosignatures", "entries", "keys", "organizations": as §8,
     "rules": {...the §45X rule data the verdict applied (cairn_core.regimes.s45x.rules)...},
     "verdict_entry": {...its macr_verdict ledger entry, as §8's verdict_entry...}}

`entries` holds the component's creating transform, the entry that created
each of its inputs, every supplier_certification naming an input and every
sale of the batch (all within the verdict's checkpoint), closed under
`prev` (every prev names an entry of the bundle), and the ledger entries
(contract §12) of the keys that signed them, of the organisations they
name, and the latest `rules` entry of regime "45x" whose sha256 is the
verdict's rules_version.

`verify` runs every check §30D bundles get (`cairn_core.bundle.check_log`:
log key against the pinned one, checkpoint, witnesses, keys and ledger
entries, proofs, chains, the signed report), with the same trust rules and
exit statuses, then: the rule data reads and its version is the verdict's
and a logged rules entry's; the verdict's own macr_verdict entry; and the
verdict recomputed from the bundle's statements, keys and rules alone
(`verdict.verdict_of`, the server's code) is the signed one, field by field
(`id`, `verified_at`, `requested_by`, `report` and `problems` are not
recomputed: the problems, integrity findings, are reconciled as §30D's).
No Django import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from cairn_core import bundle, cosignature, report_lines, signed_note
from cairn_core.bundle import Result
from cairn_core.payload import JSONObject
from cairn_core.problems import Code, Problem
from cairn_core.regimes.s45x import macr
from cairn_core.regimes.s45x import rules as s45x_rules
from cairn_core.regimes.s45x import verdict as verdicts
from cairn_core.regimes.s45x.rules import REGIME

SECTIONS: dict[str, type] = {
    "bundle": str,
    "regime": str,
    "batch": str,
    "taxable_year": int,
    "verdict": dict,
    "log": dict,
    "checkpoint": str,
    "entries": list,
    "keys": list,
    "organizations": list,
    "rules": dict,
}
NOT_RECOMPUTED = ("id", "report", "problems", "verified_at", "requested_by")
VERDICT_KIND = "macr_verdict"


def file_name(batch: str, taxable_year: int, verification_id: int) -> str:
    """`<batch>.<year>.<id>.cairn-bundle.json`, the batch's colon written as a dot (a file name may not hold it)."""
    return f"{batch.replace(':', '.')}.{taxable_year}.{verification_id}.cairn-bundle.json"


def assemble(
    verdict: Mapping[str, object],
    *,
    log: Mapping[str, object],
    checkpoint: str,
    cosignatures: Iterable[str],
    entries: Iterable[Mapping[str, object]],
    keys: Iterable[Mapping[str, object]],
    organizations: Iterable[Mapping[str, object]],
    rules: s45x_rules.Rules,
    verdict_entry: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The bundle document of a signed §45X verdict (the server's side: it chooses the entries, as
    the module docstring says, and gives each `{"index", "leaf_input", "proof"}`, sorted by index)."""
    document: dict[str, object] = {
        "bundle": bundle.BUNDLE,
        "regime": REGIME,
        "batch": verdict["batch"],
        "taxable_year": verdict["taxable_year"],
        "verdict": dict(verdict),
        "log": dict(log),
        "checkpoint": checkpoint,
        "cosignatures": list(cosignatures),
        "entries": sorted((dict(item) for item in entries), key=lambda item: cast(int, item["index"])),
        "keys": [dict(item) for item in keys],
        "organizations": [dict(item) for item in organizations],
        "rules": s45x_rules.to_json(rules),
    }
    if verdict_entry is not None:
        document["verdict_entry"] = dict(verdict_entry)
    return document


def check_shape(document: object) -> dict[str, Any]:
    found = bundle.check_sections(document, SECTIONS)
    if found["regime"] != REGIME:
        raise bundle.NotABundle(f'"regime" is not "{REGIME}"')
    return found


@dataclass
class MacrResult(Result):
    """What `verify` found (`Result`'s fields, `vin` empty), with the batch and taxable year."""

    batch: str = ""
    taxable_year: int = 0

    def as_dict(self) -> dict[str, object]:
        found = super().as_dict()
        for name in ("vin", "claim_index", "credit_usd"):
            found.pop(name, None)
        return {
            **found,
            "regime": REGIME,
            "batch": self.batch,
            "taxable_year": self.taxable_year,
            "outcome": self.verdict.get("outcome"),
        }


def verify(
    document: object,
    *,
    processes: int = 1,
    log_key: signed_note.Verifier | None = None,
    witnesses: Iterable[cosignature.WitnessKey] = (),
    witnesses_required: int | None = None,
) -> MacrResult:
    """Every check of the module docstring over a parsed §45X bundle; NotABundle when it is not one,
    ValueError when the witnesses required are impossible (as §30D's `cairn_core.regimes.s30d.bundle.verify`)."""
    pinned = list(witnesses)
    required = bundle.required_witnesses(pinned, witnesses_required)
    found = check_shape(document)
    verdict: JSONObject = found["verdict"]
    result = MacrResult(
        vin="", verdict=verdict, witnesses_required=required, batch=found["batch"], taxable_year=found["taxable_year"]
    )
    log = bundle.check_log(
        found, result, processes=processes, log_key=log_key, pinned=pinned, report_type=verdicts.REPORT_TYPE
    )
    rules = _rules(found["rules"], verdict, result)
    bundle.check_organizations(found["organizations"], log.ledger, result)
    if log.ledger is not None and rules is not None:
        bundle.check_logged_rules(rules.version, rules.version, log.ledger.regime_rules.get(REGIME, []), result)
    bundle.check_verdict_entry(found, log, pinned, result, kind=VERDICT_KIND, expected=expected_entry)
    bundle.check_request(verdict, result)
    _check_subject(found, result)
    result.add_problems(log.signatures(log.entries))
    if rules is not None and log.checkpoint is not None:
        _compare(found, log, rules, result)
    bundle.sort_failures(result)
    return result


def expected_entry(verdict: JSONObject) -> dict[str, object]:
    """The fields of a §45X verdict's macr_verdict ledger entry, from the verdict."""
    return {
        "verification": verdict.get("id"),
        "batch": verdict.get("batch"),
        "taxable_year": verdict.get("taxable_year"),
        "outcome": verdict.get("outcome"),
        "integrity": verdict.get("integrity"),
        "requested_by": verdict.get("requested_by", {"organization": None, "user": None}),
        "report_sha256": bundle.report_sha256(verdict),
    }


def _rules(document: Mapping[str, Any], verdict: JSONObject, result: Result) -> s45x_rules.Rules | None:
    try:
        rules = s45x_rules.from_json(document)
    except s45x_rules.RulesError as exc:
        result.fail(Code.RULES, str(exc))
        return None
    if rules.version != verdict.get("rules_version"):
        result.fail(Code.RULES, f"the rules are version {rules.version}, the verdict's {verdict.get('rules_version')}")
    return rules


def _check_subject(document: Mapping[str, Any], result: Result) -> None:
    verdict = document["verdict"]
    for name in ("batch", "taxable_year"):
        if verdict.get(name) != document[name]:
            message = f"the bundle is for {name} {document[name]!r}, the verdict for {verdict.get(name)!r}"
            result.fail(Code.VERDICT, message)


def _compare(document: Mapping[str, Any], log: bundle.Log, rules: s45x_rules.Rules, result: Result) -> None:
    """The verdict recomputed from the bundle alone, compared field by field with the signed one."""
    verdict: JSONObject = document["verdict"]
    listed = bundle.signed_problems(verdict, result)
    broken = bundle.reconcile([item for item in listed if item.code in bundle.INTEGRITY_CODES], [], result)
    statements = [
        macr.Logged(
            entry.index,
            entry.decoded.entry_hash,
            entry.integrated_time,
            entry.decoded.payload,
            tuple(sorted(entry.decoded.keyids)),
        )
        for entry in log.entries
    ]
    try:
        as_of = _as_of(verdict)
        recomputed = verdicts.verdict_of(
            statements,
            document["batch"],
            document["taxable_year"],
            rules,
            log.keys,
            as_of=as_of,
            checkpoint=document["checkpoint"],
            problems=broken,
            what_if_year=_year_asked(verdict),
        )
    except (macr.EvidenceError, *macr.READ_ERRORS) as exc:
        result.fail(Code.VERDICT, f"the verdict cannot be recomputed from the bundle: {exc!r}")
        return
    result.recomputed = recomputed
    _compare_problems(listed, result)
    signed = {key: value for key, value in verdict.items() if key not in NOT_RECOMPUTED}
    mine = {key: value for key, value in recomputed.items() if key not in NOT_RECOMPUTED}
    for path, theirs, ours in bundle.differences(signed, mine):
        message = f"{path}: signed {bundle.json_text(theirs)}, recomputed {bundle.json_text(ours)}"
        result.fail(Code.VERDICT, message, None, (path, theirs, ours))


def _year_asked(verdict: JSONObject) -> int | None:
    """The year sold the verification was asked to assume (`year_sold.source` "what_if"), else None:
    a verdict stored "as if sold in 2027" is recomputed under the same assumption, which it states."""
    sold = verdict.get("year_sold")
    if isinstance(sold, dict) and sold.get("source") == "what_if":
        year = sold.get("year")
        return year if isinstance(year, int) and not isinstance(year, bool) else None
    return None


def _compare_problems(listed: list[Problem], result: Result) -> None:
    """A §45X verdict lists integrity problems only: any other is named."""
    for item in listed:
        if item.code not in bundle.INTEGRITY_CODES:
            result.fail(Code.VERDICT, f"problems: {item.code} ({item.message}) is not an integrity problem", item.index)


def _as_of(verdict: JSONObject) -> dt.datetime:
    """The verification's time, against which key revocations are judged (`macr.compute`)."""
    moment = verdict["verified_at"]
    if not isinstance(moment, str) or not moment.endswith("Z"):
        raise ValueError(f"verified_at {moment!r} is not an RFC 3339 UTC time")
    return dt.datetime.fromisoformat(moment[:-1] + "+00:00")


# --- a §45X verdict's signed report alone ---------------------------------------------------

VERDICT_FIELDS: dict[str, type] = {
    "regime": str,
    "batch": str,
    "taxpayer": str,
    "taxable_year": int,
    "outcome": str,
    "integrity": str,
    "inputs": list,
    "problems": list,
    "checkpoint": str,
    "rules_version": str,
}


def check_report_shape(verdict: JSONObject, result: bundle.ReportResult) -> None:
    """A §45X verdict's fields and types, its outcome, and "incomplete" when its integrity is broken."""
    for name, kind in VERDICT_FIELDS.items():
        value = verdict.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            result.fail(Code.VERDICT, f"{name} is missing or not a JSON {kind.__name__}")
    if verdict.get("regime") != REGIME:
        result.fail(Code.VERDICT, f'regime is {verdict.get("regime")!r}, not "{REGIME}"')
    if verdict.get("integrity") not in ("intact", "broken"):
        result.fail(Code.VERDICT, f"integrity is {verdict.get('integrity')!r}, not intact or broken")
    if verdict.get("outcome") not in verdicts.OUTCOMES:
        result.fail(Code.VERDICT, f"outcome is {verdict.get('outcome')!r}, not one of {', '.join(verdicts.OUTCOMES)}")
    elif verdict.get("integrity") == "broken" and verdict.get("outcome") != "incomplete":
        result.fail(Code.VERDICT, "a broken verdict's outcome is incomplete")
    bundle.check_request(verdict, result)


def verify_report(document: object, *, log_key: signed_note.Verifier | None = None) -> bundle.ReportResult:
    """A §45X verdict's signed report checked alone (`cairn_core.bundle.verify_report` with §45X's type and shape)."""
    return bundle.verify_report(
        document, log_key=log_key, report_type=verdicts.REPORT_TYPE, check_shape=check_report_shape
    )


# --- the verdict as cairn-verify shows it ----------------------------------------------------


def describe(verdict: JSONObject) -> list[str]:
    """What the signed §45X verdict says: outcome, ratio against threshold, year sold, each input."""
    macr_figures = report_lines.mapping(verdict.get("macr"))
    threshold = report_lines.mapping(verdict.get("threshold"))
    totals = report_lines.mapping(verdict.get("totals"))
    sold = report_lines.mapping(verdict.get("year_sold"))
    non_pfe, total = (
        report_lines.text(totals.get("non_pfe_usd")),
        report_lines.text(totals.get("direct_material_cost_usd")),
    )
    lines = [
        f"Verdict (signed): {report_lines.text(verdict.get('outcome'))}, "
        f"integrity {report_lines.text(verdict.get('integrity'))}",
        f"  Taxpayer {report_lines.text(verdict.get('taxpayer'))}, taxable year "
        f"{report_lines.text(verdict.get('taxable_year'))}",
        f"  MACR: {report_lines.text(macr_figures.get('percent_shown', 'not computed'))}% "
        f"({non_pfe} of {total} USD not attributed to prohibited foreign entities)",
        f"  Threshold: {report_lines.text(threshold.get('percent', 'none'))}% "
        f"({'confirmed' if threshold.get('confirmed') is True else 'unconfirmed'}; "
        f"{report_lines.text(threshold.get('source', ''))})",
        f"  Year sold: {report_lines.text(sold.get('year'))} ({report_lines.text(sold.get('source'))})",
    ]
    for item in (report_lines.mapping(found) for found in report_lines.items(verdict.get("inputs"))):
        reasons = ", ".join(report_lines.text(reason) for reason in report_lines.items(item.get("reasons")))
        lines.append(
            f"    input {report_lines.text(item.get('batch'))} from {report_lines.text(item.get('supplier'))}: "
            f"{report_lines.text(item.get('direct_material_cost_usd'))} USD, "
            f"{report_lines.text(item.get('pfe_attributed_usd'))} attributed ({reasons or 'certified'})"
        )
    lines.append(f"  Rules: {report_lines.text(verdict.get('rules_version'))}")
    lines.append(f"  Verification time: {report_lines.text(verdict.get('verified_at') or report_lines.NOT_RECORDED)}")
    lines.append(f"  Requested by: {report_lines.requester(verdict.get('requested_by'))}")
    return lines
