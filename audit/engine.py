"""The verification engine: a claim's verdict (contract §5), stored and signed.

    evaluate_claim(claim, ruleset, checkpoint) -> Verdict   reads only
    verify_claim(vin, requested_by=...) -> Verification     the one write (and the
                                                            incidents of a broken verdict)
    claim_evaluator() -> (ruleset, claim) -> figures        stores nothing (audit.impact)

Evaluating a claim is four steps (DOMAIN.md, "The computation"):

1. **Load** the claim's upstream DAG in a fixed number of queries, whatever
   its size: one recursive CTE (provenance.upstream, the walk the provenance
   graph uses too) walks from the pack back to the origins and returns
   every batch link of the DAG's batches up to the claim; one query reads
   those entries and one the issuers' countries. The walk follows BatchLink
   rows only: ledger rows that are never updated, not the mutable state in
   Batch.
2. **Check integrity** of every one of those entries (audit.claim_integrity):
   three more queries.
3. **Assess** the rules (cairn_core.regimes.s30d.lineage, pure): from the *signed* payloads
   decoded in step 2, not from derived tables, so the figures are those the
   suppliers signed.
4. **Name** each requirement's figures and every failed check as a problem.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gc
import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from agreements.snapshot import current_ruleset, load_ruleset
from audit import incidents
from audit.claim_integrity import ClaimCheck, StoredEntry, StoredLink
from audit.integrity import ENTRY_FIELDS
from audit.models import Verification
from cairn_core import dsse
from cairn_core.dag import decimal_str
from cairn_core.problems import Problem
from cairn_core.regimes.s30d import lineage, rules, ruleset_json
from cairn_core.regimes.s30d import verdict as verdicts
from cairn_core.regimes.s30d.lineage import Assessment, ClaimFacts, pct_str
from cairn_core.regimes.s30d.verdict import REPORT_TYPE, Verdict
from provenance import checkpoints, ledger_entries, ledger_key, witnesses
from provenance.errors import LedgerError
from provenance.models import Checkpoint, Claim, Entry, Organization
from provenance.upstream import upstream_links

# --- 1. loading the DAG --------------------------------------------------------


@dataclass(frozen=True)
class ClaimDag:
    """The entries and links a claim's verdict rests on, as stored."""

    claim_index: int
    batches: frozenset[str]
    links: tuple[StoredLink, ...]
    entries: Mapping[int, StoredEntry]
    org_countries: Mapping[str, str]

    @property
    def creators(self) -> list[int]:
        return sorted({link.entry for link in self.links if link.role == "created"})

    @property
    def upstream(self) -> verdicts.Upstream:
        return verdicts.Upstream(self.batches, tuple(self.creators))


def load_claim_dag(claim: Claim) -> ClaimDag:
    """The DAG above the claim's pack, in three queries (the walk is provenance.upstream's)."""
    links = upstream_links(claim.batch_id, up_to=claim.entry_id)
    indexes = {link.entry for link in links} | {claim.entry_id}
    entries = {
        row[0]: StoredEntry._make(row)
        for row in Entry.objects.filter(index__in=indexes).values_list(*ENTRY_FIELDS).order_by()
    }
    issuers = {entry.issuer for entry in entries.values()}
    countries = Organization.objects.filter(slug__in=issuers).values_list("slug", "country")
    return ClaimDag(
        claim_index=claim.entry_id,
        batches=frozenset(link.batch for link in links),
        links=links,
        entries=entries,
        org_countries={slug: str(country) for slug, country in countries},
    )


# --- 3. from signed statements to the pure computation (cairn_core.regimes.s30d.verdict) -------


def facts_from_row(claim: Claim) -> ClaimFacts:
    """The claim as the Claim row has it (when its statement cannot be read)."""
    return ClaimFacts(
        vin=claim.vin,
        index=claim.entry_id,
        batch=claim.batch_id,
        quantity=Decimal(1),
        acquired=claim.acquired,
        placed_in_service=claim.placed_in_service,
        final_assembly_country=str(claim.final_assembly_country),
    )


def assess_dag(
    claim: Claim, dag: ClaimDag, statements: Mapping[int, Mapping[str, Any]], ruleset: rules.RuleSet
) -> tuple[ClaimFacts, Assessment, list[Problem]]:
    """The rules applied to the DAG; an unreadable DAG assesses as empty, with a problem."""
    try:
        facts = verdicts.claim_facts(claim.entry_id, statements[claim.entry_id])
    except verdicts.READ_ERRORS as exc:
        facts = facts_from_row(claim)
        problem = Problem(claim.entry_id, "statement", f"the DAG's statements cannot be read: {exc!r}")
        return facts, lineage.assess(facts, verdicts.EMPTY_CHAIN, ruleset), [problem]
    done, problems = verdicts.assess(facts, statements, dag.upstream, dag.org_countries, ruleset)
    return facts, done, problems + _claim_row_problems(claim, facts)


def _claim_row_problems(claim: Claim, facts: ClaimFacts) -> list[Problem]:
    stored = (claim.vin, claim.batch_id, claim.acquired, claim.placed_in_service)
    signed = (facts.vin, facts.batch, facts.acquired, facts.placed_in_service)
    if stored == signed and str(claim.final_assembly_country) == facts.final_assembly_country:
        return []
    return [Problem(claim.entry_id, "claim", "the stored claim differs from the signed claim")]


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block.

    Evaluating a large DAG allocates ~10^5 short-lived objects without
    cycles; meanwhile full collections scan the whole process heap and free
    nothing (~15% of the time). Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def evaluate_claim(claim: Claim, ruleset: rules.RuleSet, checkpoint: Checkpoint | None) -> Verdict:
    """The verdict on `claim` under `ruleset`, checked against `checkpoint`. Reads only."""
    with cyclic_gc_paused():
        return _evaluate(claim, ruleset, checkpoint)


def _evaluate(claim: Claim, ruleset: rules.RuleSet, checkpoint: Checkpoint | None) -> Verdict:
    dag = load_claim_dag(claim)
    check = ClaimCheck(dag.entries, dag.links, dag.batches, checkpoint)
    try:
        # The rules run on the signed payloads while the signatures are verified.
        statements = {
            index: check.decoded[index].payload if index in check.decoded else entry.statement
            for index, entry in dag.entries.items()
        }
        facts, done, statement_problems = assess_dag(claim, dag, statements, ruleset)
    finally:
        integrity = check.result()
    return verdicts.build_verdict(
        facts,
        done,
        ruleset,
        broken=integrity.problems + statement_problems,
        checkpoint=checkpoint.note if checkpoint else "",
        checkpoint_size=checkpoint.tree_size if checkpoint else 0,
        issuers=verdicts.issuer_countries(statements, dag.upstream, dag.org_countries),
    )


# --- the service ---------------------------------------------------------------


# The ledger entries of stored verdicts (§30D's, §45X's): no verdict relies on them.
VERDICT_KINDS = ("verdict", "macr_verdict")


def covering_checkpoint(claim: Claim) -> Checkpoint | None:
    """The latest checkpoint that covers the claim (and every ledger entry) and has the witnesses'
    quorum (contract §10): `checkpoint_with_quorum`."""
    return checkpoint_with_quorum(claim.entry_id)


def checkpoint_with_quorum(index: int) -> Checkpoint | None:
    """The latest checkpoint that covers entry `index` (and every ledger entry but verdicts) and has
    the witnesses' quorum (contract §10), publishing one and gathering its
    cosignatures first when there is none; LedgerError `unavailable` (503)
    when the quorum is not reached within LEDGER_WITNESS_TIMEOUT."""
    # It covers the ledger entries the verdict relies on too (keys,
    # organisations, rules: contract §12), so that its bundle can prove them.
    needed = max(index, ledger_entries.latest_index(excluding=VERDICT_KINDS) or 0)
    usable = witnesses.latest_with_quorum(covering=needed)
    if usable is not None:
        return usable
    try:
        checkpoint = checkpoints.publish_checkpoint()
    except checkpoints.CheckpointRefused:
        # The stored tree no longer extends the last checkpoint: verify
        # against that one; the entries beyond it are reported as such.
        return checkpoints.latest()
    if checkpoint.tree_size <= needed or witnesses.gather(checkpoint):
        return checkpoint
    have, need = len(witnesses.cosignatures(checkpoint)), witnesses.quorum()
    raise LedgerError(
        "unavailable",
        f"Checkpoint {checkpoint.tree_size} has {have} of the {need} witness cosignatures a verification needs; "
        "nothing was stored: try again when the witnesses answer.",
    )


def verify_claim(
    vin: str,
    *,
    requested_by: User | None,
    organization: Organization | None = None,
    ruleset: rules.RuleSet | None = None,
) -> Verification:
    """Verify the claim on `vin` and store the verdict with its signed report.

    `requested_by` is the user who asked, None for a command; the verdict
    names the user's organisation, or for a command `organization` (by
    default the ledger's one auditor organisation: `command_organization`).
    """
    claim = Claim.objects.filter(vin=vin).first()
    if claim is None:
        raise LedgerError("not_found", f"No claim for VIN {vin}.")
    if ruleset is None:
        ruleset = current_ruleset()
        # Read afresh, not from this process's cache: the tables as they stand must be what the log records.
        check_rules_logged(load_ruleset())
    checkpoint = covering_checkpoint(claim)
    verdict = evaluate_claim(claim, ruleset, checkpoint)
    verification = store_verdict(verdict, claim=claim, requested_by=requested_by, organization=organization)
    if verdict.integrity == "broken":
        # What the verdict found broken is an integrity incident, as if a check had found it.
        requirements = verdict.requirements()
        broken = [problem for problem in verdict.problems if problem.code not in requirements]
        incidents.record_problems(broken, detected_by=f"verification {verification.pk}")
    # A claim appended after an incident was opened: its verdicts are flagged from the first.
    incidents.refresh_consequences()
    return verification


def check_rules_logged(ruleset: rules.RuleSet) -> None:
    """Refuse to judge by rule data the log does not record (contract §12).

    Rule data changed in the tables without its `rules` entry (a database
    insider's edit) is not used: the verification answers 503 `unavailable`
    and stores nothing, and the integrity checks raise the incident
    (`rules_data`). Before the ledger's first rules entry there is nothing
    to compare.
    """
    logged = ledger_entries.latest_rules_digest()
    if logged is None or logged[1] == ruleset_json.digest(ruleset):
        return
    raise LedgerError(
        "unavailable",
        f"The rule data is not what the latest rules entry (#{logged[0]}) records: it was changed without an "
        "entry in the log. Nothing was verified; an auditor must look at the integrity incidents.",
    )


def store_verdict(
    verdict: Verdict, *, claim: Claim, requested_by: User | None, organization: Organization | None = None
) -> Verification:
    """Insert the row, sign the verdict with its id, seal the row: one transaction.

    The signed body says when and for whom (contract §5 v1.2): `verified_at`
    (whole seconds, as the row's requested_at) and `requested_by`.
    """
    stamp = request_stamp(requested_by, organization)
    organization, requested_at = stamp.organization, stamp.at
    body = {**verdict.as_dict(), **stamp.fields}
    with transaction.atomic():
        verification = Verification.objects.create(
            claim=claim,
            claim_index=verdict.claim_index,
            requested_by=requested_by,
            organization=organization,
            requested_at=requested_at,
            checkpoint_size=verdict.checkpoint_size,
            checkpoint=verdict.checkpoint,
            rules_version=verdict.rules_version,
            verdict=body,
            credit_usd=verdict.credit_usd,
            integrity=verdict.integrity,
        )
        verification.report = sign_report({"id": verification.pk, **body})
        # The verdict in the log too (contract §12), committed with its row.
        ledger_entries.append("verdict", verdict_fields(verification), at=requested_at)
        Verification.objects.seal(verification.pk, verification.report)
    return verification


@dataclass(frozen=True)
class RequestStamp:
    """Who asked for a verdict and when, as every regime's signed verdict says it (contract §5 v1.2)."""

    organization: Organization | None
    at: dt.datetime  # whole seconds, as the signed verified_at
    user: User | None

    @property
    def fields(self) -> dict[str, object]:
        """The signed body's `verified_at` and `requested_by`."""
        user = self.user.get_username() if self.user else None
        return {
            "verified_at": rfc3339(self.at),
            "requested_by": {"organization": self.organization.slug if self.organization else None, "user": user},
        }


def request_stamp(requested_by: User | None, organization: Organization | None = None) -> RequestStamp:
    """The user's organisation, or for a command `organization` (by default `command_organization()`), now."""
    member = getattr(requested_by, "member", None)
    organization = member.organization if member else organization or command_organization()
    return RequestStamp(organization, timezone.now().replace(microsecond=0), requested_by)


def verdict_fields(verification: Verification) -> dict[str, object]:
    """A stored verification as its `verdict` ledger entry's fields (contract §12)."""
    report = verification.report or {}
    payload = base64.b64decode(str(report.get("payload", "")))
    body = verification.verdict
    return {
        "verification": verification.pk,
        "vin": verification.claim_id,
        "claim_index": verification.claim_index,
        "credit_usd": verification.credit_usd,
        "integrity": verification.integrity,
        "report_sha256": hashlib.sha256(payload).hexdigest(),
        "requested_by": body.get("requested_by", {"organization": None, "user": None}),
    }


def command_organization() -> Organization | None:
    """The organisation a command's verification names when none is given:
    the ledger's auditor organisation when there is exactly one."""
    auditors = [org for org in Organization.objects.order_by("slug") if "auditor" in org.roles]
    return auditors[0] if len(auditors) == 1 else None


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_report(body: Mapping[str, object]) -> dsse.StoredEnvelope:
    return ledger_key.sign_envelope(REPORT_TYPE, verdicts.report_payload(body))


# --- what if: other rules, nothing stored (audit.impact) ---------------------------


def rules_result(claim: Claim, dag: ClaimDag, ruleset: rules.RuleSet) -> dict[str, str]:
    """The rules' credit and qualifying % for a loaded DAG, from its stored
    statements (integrity is not re-checked here)."""
    statements = {index: entry.statement for index, entry in dag.entries.items()}
    _facts, done, problems = assess_dag(claim, dag, statements, ruleset)
    return {
        "credit_usd": decimal_str(done.credit(intact=not problems), 2),
        "qualifying_pct": pct_str(done.minerals.pct),
    }


def claim_evaluator() -> Callable[[rules.RuleSet, Claim], dict[str, str]]:
    """An `audit.impact` evaluator: (ruleset, claim) -> credit and qualifying %.

    Each claim's DAG is loaded once however many RuleSets it is evaluated under.
    """
    loaded: dict[str, ClaimDag] = {}

    def evaluate(ruleset: rules.RuleSet, claim: Claim) -> dict[str, str]:
        if claim.vin not in loaded:
            loaded[claim.vin] = load_claim_dag(claim)
        return rules_result(claim, loaded[claim.vin], ruleset)

    return evaluate


__all__ = [
    "REPORT_TYPE",
    "ClaimDag",
    "Verdict",
    "claim_evaluator",
    "evaluate_claim",
    "load_claim_dag",
    "verify_claim",
]
