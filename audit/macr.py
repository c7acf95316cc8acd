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

The checkpoint is the latest that covers the evidence and every ledger
entry and has the witnesses' quorum, else the latest: reading a verdict
publishes nothing (entries beyond it are reported as not included, and the
verdict is then "incomplete"). Storing and signing a verdict (a
`macr_verdict` ledger entry and its report), its bundle and its admin pages
are not here yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from audit.claim_integrity import ClaimCheck
from audit.integrity import ENTRY_FIELDS
from cairn_core.entries import StoredEntry
from cairn_core.regimes.s45x import macr, verdict
from cairn_core.regimes.s45x import rules as s45x_rules
from material_assistance import rule_data
from provenance import checkpoints, ledger_entries, witnesses
from provenance.errors import LedgerError
from provenance.keys import verifying_keys
from provenance.models import Batch, Checkpoint, Entry, Organization
from provenance.upstream import upstream_links


def may_read(organization: Organization, batch: Batch) -> bool:
    """Auditors, and the taxpayer: the organisation whose statement created the batch."""
    return organization.has_role("auditor") or batch.owner_id == organization.slug


def macr_verdict(batch: Batch, taxable_year: int, *, sold_year: int | None = None) -> dict[str, Any]:
    """The verdict document of `batch` for `taxable_year` (with `sold_year`: as if sold that year)."""
    rules = logged_rules()
    links = upstream_links(batch.id)
    indexes = {link.entry for link in links}
    entries = {
        row[0]: StoredEntry._make(row)
        for row in Entry.objects.filter(index__in=indexes).values_list(*ENTRY_FIELDS).order_by()
    }
    checkpoint = covering_checkpoint(max(indexes, default=0))
    check = ClaimCheck(entries, links, frozenset(link.batch for link in links), checkpoint)
    integrity = check.result()
    statements = [
        macr.Logged(
            index, decoded.entry_hash, entries[index].integrated_time, decoded.payload, tuple(sorted(decoded.keyids))
        )
        for index, decoded in sorted(integrity.decoded.items())
    ]
    keys = verifying_keys(keyid for item in statements for keyid in item.keyids)
    try:
        return verdict.verdict_of(
            statements,
            batch.id,
            taxable_year,
            rules,
            keys,
            as_of=timezone.now(),
            checkpoint=checkpoint.note if checkpoint else "",
            problems=integrity.problems,
            what_if_year=sold_year,
        )
    except macr.EvidenceError as exc:
        # The batch's creating entry does not decode: nothing to compute from.
        raise LedgerError("unavailable", f"The evidence of batch {batch.id} cannot be read: {exc}.") from exc


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
    needed = max(index, ledger_entries.latest_index(excluding=("verdict", "macr_verdict")) or 0)
    return witnesses.latest_with_quorum(covering=needed) or checkpoints.latest()


def year_param(params: Mapping[str, str], name: str) -> int:
    """A year from the query (`year`, `sold_year`): four ASCII digits, 2000 to 2100; LedgerError otherwise."""
    text = params.get(name)
    if text is None or len(text) != 4 or not text.isascii() or not text.isdigit() or not 2000 <= int(text) <= 2100:
        raise LedgerError("bad_request", f"{name} must be a year, four digits from 2000 to 2100.")
    return int(text)
