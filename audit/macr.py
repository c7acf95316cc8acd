"""A component batch's §45X material assistance verdict: the ledger's evidence, the core's computation.

    macr_verdict(batch, taxable_year, sold_year=None) -> the verdict document

What it reads, in five queries whatever the DAG's size:

* the batch's upstream DAG as a claim's verification walks it
  (provenance.upstream): the transform that created the batch, its inputs,
  the entry that created each input, every `supplier_certification` naming
  an input (a link of the input's chain) and every `sale` of the batch,
  with the rest of the DAG the batch rests on;
* each of those entries checked as a claim's are
  (`audit.claim_integrity.ClaimCheck`: hashes, signatures by keys valid
  when logged, the recorded signatures, each batch's chain, inclusion under
  the checkpoint); any problem makes the verdict "incomplete";
* the keys that signed them, with their revocations
  (`provenance.keys.verifying_keys`): the core decides whether a
  certification counts (its issuer's key, valid when it was logged and not
  revoked since);
* the rule data (`material_assistance.rule_data.document()`), used only when
  it is what the latest §45X `rules` entry records (503 `unavailable`
  otherwise, as a §30D verification refuses unlogged rules).

The figures come from the signed payloads decoded by the check, never from
the tables; the computation is the core's alone
(`cairn_core.regimes.s45x.verdict.verdict_of`: `macr.gather` picks the
evidence among the statements, `macr.compute` the ratio, `verdict.build`
the document), so a bundle verified offline recomputes the same figures.

Two uses:

    macr_verdict(batch, year, sold_year=None) -> dict     the unsigned preview: reads only
    store_verification(batch, year, sold_year, requested_by=…) -> MacrVerification
                                                          the one write: stored, signed, logged

The preview's checkpoint is the latest that covers the evidence and every
ledger entry and has the witnesses' quorum, else the latest: reading a
verdict publishes nothing (entries beyond it are reported as not included,
and the verdict is then "incomplete"). A stored verification takes its
checkpoint as a §30D verification does (`engine.checkpoint_with_quorum`:
publishing one and waiting for the witnesses' quorum, 503 `unavailable`
without it), judges key revocations as of its own `verified_at` (as
`cairn-verify` will, from the bundle), and is inserted, signed by the
ledger key (`verdict.REPORT_TYPE`) and logged as a `macr_verdict` ledger
entry (its fields `bundle.expected_entry`'s) in one transaction, as
`engine.store_verdict` stores a §30D verdict. A broken one raises its
integrity incidents as a §30D one does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit import engine, incidents
from audit.claim_integrity import ClaimCheck, stored_entries
from audit.models import MacrVerification
from cairn_core import dsse
from cairn_core.entries import Key, StoredEntry
from cairn_core.problems import Problem
from cairn_core.regimes.s45x import bundle as s45x_bundle
from cairn_core.regimes.s45x import macr, verdict
from cairn_core.regimes.s45x import rules as s45x_rules
from material_assistance import rule_data
from provenance import checkpoints, ledger_entries, ledger_key, witnesses
from provenance.errors import LedgerError
from provenance.models import Batch, Checkpoint, Organization
from provenance.upstream import UpstreamLink, upstream_links


def may_read(organization: Organization, batch: Batch) -> bool:
    """Auditors, and the taxpayer: the organisation whose statement created the batch."""
    return organization.has_role("auditor") or batch.owner_id == organization.slug


@dataclass(frozen=True)
class Evidence:
    """The batch's upstream DAG as stored: its links and their entries (read in two queries)."""

    links: tuple[UpstreamLink, ...]
    entries: Mapping[int, StoredEntry]

    @property
    def last_index(self) -> int:
        return max(self.entries, default=0)


def load_evidence(batch: Batch) -> Evidence:
    links = upstream_links(batch.id)
    return Evidence(links, stored_entries({link.entry for link in links}))


def macr_verdict(batch: Batch, taxable_year: int, *, sold_year: int | None = None) -> dict[str, Any]:
    """The verdict document of `batch` for `taxable_year` (with `sold_year`: as if sold that year):
    the unsigned preview, computed now and stored nowhere."""
    rules = logged_rules()
    evidence = load_evidence(batch)
    checkpoint = covering_checkpoint(evidence.last_index)
    document, _problems = evaluate(batch, evidence, taxable_year, rules, checkpoint, timezone.now(), sold_year)
    return document


@dataclass(frozen=True)
class Checked:
    """The evidence checked: its signed statements, the keys that signed them, its integrity problems."""

    statements: tuple[macr.Logged, ...]
    keys: Mapping[str, Key]
    problems: tuple[Problem, ...]
    checkpoint: str  # the note checked against ("" for none)


def check_evidence(evidence: Evidence, checkpoint: Checkpoint | None) -> Checked:
    """Each entry of the evidence checked as a claim's are, against `checkpoint` (the one check of
    §45X evidence: the verdict's, the preview's and the auditors' pages'). Each envelope is decoded
    once, by the check, and its keys read once."""
    with engine.cyclic_gc_paused():
        check = start_check(evidence, checkpoint)
        integrity = check.result()
        return Checked(statements_of(evidence, check), check.keys, tuple(integrity.problems), note_of(checkpoint))


def start_check(evidence: Evidence, checkpoint: Checkpoint | None) -> ClaimCheck:
    """The check started: entries decoded, chains and inclusion checked; the signatures on their thread."""
    links = evidence.links
    return ClaimCheck(evidence.entries, links, frozenset(link.batch for link in links), checkpoint)


def statements_of(evidence: Evidence, check: ClaimCheck) -> tuple[macr.Logged, ...]:
    """The signed statements the check decoded (every entry that decodes), in log order."""
    return tuple(
        macr.Logged(
            index,
            decoded.entry_hash,
            evidence.entries[index].integrated_time,
            decoded.payload,
            tuple(sorted(decoded.keyids)),
        )
        for index, decoded in sorted(check.decoded.items())
    )


def note_of(checkpoint: Checkpoint | None) -> str:
    return checkpoint.note if checkpoint else ""


def verdict_of(
    batch_id: str,
    checked: Checked,
    taxable_year: int,
    rules: s45x_rules.Rules,
    as_of: dt.datetime,
    sold_year: int | None = None,
) -> dict[str, Any]:
    """The core's verdict over checked evidence; LedgerError "unavailable" when nothing creates the batch."""
    try:
        return verdict.verdict_of(
            checked.statements,
            batch_id,
            taxable_year,
            rules,
            checked.keys,
            as_of=as_of,
            checkpoint=checked.checkpoint,
            problems=checked.problems,
            what_if_year=sold_year,
        )
    except macr.EvidenceError as exc:
        # The batch's creating entry does not decode: nothing to compute from.
        raise LedgerError("unavailable", f"The evidence of batch {batch_id} cannot be read: {exc}.") from exc


def evaluate(
    batch: Batch,
    evidence: Evidence,
    taxable_year: int,
    rules: s45x_rules.Rules,
    checkpoint: Checkpoint | None,
    as_of: dt.datetime,
    sold_year: int | None,
) -> tuple[dict[str, Any], list[Problem]]:
    """The core's verdict over the evidence checked against `checkpoint`, and its integrity problems.

    It is `verdict.verdict_of` in its three steps, so that the core's computation (`macr.gather`,
    `macr.compute`) runs while the signatures are verified, and only the document (`verdict.build`)
    waits for their problems."""
    with engine.cyclic_gc_paused():
        check = start_check(evidence, checkpoint)
        try:
            found = macr.gather(statements_of(evidence, check), batch.id)
            computed = macr.compute(found, taxable_year, rules, check.keys, as_of)
        except macr.EvidenceError as exc:
            # The batch's creating entry does not decode: nothing to compute from.
            raise LedgerError("unavailable", f"The evidence of batch {batch.id} cannot be read: {exc}.") from exc
        finally:
            problems = check.result().problems
    document = verdict.build(computed, rules, checkpoint=note_of(checkpoint), problems=problems, what_if_year=sold_year)
    return document, list(problems)


def store_verification(
    batch: Batch,
    taxable_year: int,
    sold_year: int | None = None,
    *,
    requested_by: User | None,
    organization: Organization | None = None,
) -> MacrVerification:
    """Compute `batch`'s §45X verdict for `taxable_year` (as if sold in `sold_year`, when given), store
    it signed by the ledger key and log it (module docstring). `requested_by` is the user who asked,
    None for a command (the verdict then names `organization`, by default the one auditor organisation).
    LedgerError `unavailable` (503) for rule data the log does not record or no witnessed checkpoint."""
    rules = logged_rules()
    evidence = load_evidence(batch)
    checkpoint = engine.checkpoint_with_quorum(evidence.last_index)
    stamp = engine.request_stamp(requested_by, organization)
    document, problems = evaluate(batch, evidence, taxable_year, rules, checkpoint, stamp.at, sold_year)
    body = {**document, **stamp.fields}
    with transaction.atomic():
        verification = MacrVerification.objects.create(
            batch=batch,
            taxable_year=taxable_year,
            sold_year=sold_year,
            outcome=body["outcome"],
            requested_by=requested_by,
            organization=stamp.organization,
            requested_at=stamp.at,
            checkpoint_size=checkpoint.tree_size if checkpoint else 0,
            checkpoint=body["checkpoint"],
            rules_version=body["rules_version"],
            verdict=body,
            integrity=body["integrity"],
        )
        verification.report = sign_report({"id": verification.pk, **body})
        # The verdict in the log too (docs/contract-45x.md §4), committed with its row.
        ledger_entries.append("macr_verdict", s45x_bundle.expected_entry(verification.as_verdict()), at=stamp.at)
        MacrVerification.objects.seal(verification.pk, verification.report)
    if problems:
        # What the verdict found broken is an integrity incident, as if a check had found it.
        incidents.record_problems(problems, detected_by=f"§45X verification {verification.pk}")
    return verification


def sign_report(body: Mapping[str, object]) -> dsse.StoredEnvelope:
    """The §45X report: the verdict with its id, under its own payload type, signed by the ledger key."""
    return ledger_key.sign_envelope(verdict.REPORT_TYPE, verdict.report_payload(body))


def logged_rules() -> s45x_rules.Rules:
    """The §45X rule data, refused unless the log records it (its latest `rules` entry's version)."""
    document = rule_data.document()
    logged = ledger_entries.latest_rules_digest(rule_data.REGIME)
    if logged is not None and logged[1] != document["version"]:
        raise LedgerError(
            "unavailable",
            f"The §45X rule data is not what its latest rules entry (#{logged[0]}) records: it was changed "
            "without an entry in the log. Nothing was computed; an auditor must look at the integrity incidents.",
        )
    return s45x_rules.from_json(document)


def covering_checkpoint(index: int) -> Checkpoint | None:
    """The latest checkpoint covering `index` and every ledger entry, with the witnesses' quorum; else the latest."""
    needed = max(index, ledger_entries.latest_index(excluding=engine.VERDICT_KINDS) or 0)
    return witnesses.latest_with_quorum(covering=needed) or checkpoints.latest()


def year_param(params: Mapping[str, str], name: str) -> int:
    """A year from the query (`year`, `sold_year`): four ASCII digits, 2000 to 2100; LedgerError otherwise."""
    text = params.get(name)
    if text is None or len(text) != 4 or not text.isascii() or not text.isdigit() or not 2000 <= int(text) <= 2100:
        raise LedgerError("bad_request", f"{name} must be a year, four digits from 2000 to 2100.")
    return int(text)
