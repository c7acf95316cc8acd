"""The proof bundle of a stored §45X verification (docs/contract-45x.md §6), built from the ledger.

    build_bundle(verification) -> the bundle document   (cairn_core.regimes.s45x.bundle.assemble)
    download(verification) -> the file, named by bundle.file_name

The attestations are the evidence the verdict rests on, all below the
verdict's checkpoint: the transform that created the batch, the entry that
created each of its inputs, every `supplier_certification` naming an input
and every `sale` of the batch; then, for every `prev` of every entry in the
bundle, the entry it names (`audit.bundle.prev_closure`: one recursive
query), so every chain in the bundle is closed. Beside them, as for §30D
(`audit.bundle.proved_sections`, shared): the ledger entries of the keys
that signed them and of the organisations they name (a certification's
taxpayer among them), the latest §45X `rules` entry recording the applied
rule data, each with its tlog-proof@v1 against the verdict's checkpoint;
the rule document itself, read back from the rule data's history by its
version; and the verdict's own `macr_verdict` entry, proved against a
later checkpoint (`audit.bundle.verdict_entry`).
"""

from __future__ import annotations

from django.http import HttpResponse

from audit import bundle
from audit.models import MacrVerification
from cairn_core import bundle as bundles
from cairn_core.regimes.s45x import bundle as s45x_bundle
from cairn_core.regimes.s45x import rules as s45x_rules
from material_assistance import rule_data
from provenance.errors import LedgerError
from provenance.models import BatchLink, LinkRole


def build_bundle(verification: MacrVerification) -> dict[str, object]:
    """The bundle document of `verification`, ready for `json.dumps`."""
    size = verification.checkpoint_size
    proved = bundle.proved_sections(
        evidence_indexes(verification.batch_id, size),
        size,
        verification.checkpoint,
        verification.rules_version,
        regime=rule_data.REGIME,
    )
    return s45x_bundle.assemble(
        verification.as_verdict(),
        **proved,
        rules=applied_rules(verification),
        verdict_entry=bundle.verdict_entry(s45x_bundle.VERDICT_KIND, verification.pk, size),
    )


def evidence_indexes(batch_id: str, checkpoint_size: int) -> list[int]:
    """The evidence entries below `checkpoint_size` (module docstring) and their prev closure, sorted."""
    below = BatchLink.objects.filter(entry_id__lt=checkpoint_size)
    creators = list(below.filter(batch_id=batch_id, role=LinkRole.CREATED).values_list("entry_id", flat=True))
    inputs = below.filter(entry_id__in=creators, role=LinkRole.CONSUMED).values_list("batch_id", flat=True)
    seeds = {
        *creators,
        *below.filter(batch_id=batch_id, role=LinkRole.SOLD).values_list("entry_id", flat=True),
        *below.filter(batch_id__in=list(inputs), role__in=(LinkRole.CREATED, LinkRole.SUPPLIER_CERTIFIED))
        .values_list("entry_id", flat=True)
        .order_by(),
    }
    return sorted(index for index in bundle.prev_closure(seeds) if index < checkpoint_size)


def applied_rules(verification: MacrVerification) -> s45x_rules.Rules:
    """The §45X rule data as it stood for the verdict (from the rule data's history), by its version."""
    for as_of in (verification.requested_at, None):
        try:
            document = rule_data.document(as_of=as_of)
        except LookupError:  # no history of a table as of then (rows older than their history): try the tables
            continue
        if document["version"] == verification.rules_version:
            return s45x_rules.from_json(document)
    raise LedgerError(
        "bad_request",
        f"The §45X rule data of verification {verification.pk} ({verification.rules_version}) cannot be read back.",
    )


def download(verification: MacrVerification) -> HttpResponse:
    """The bundle as a file named `<batch>.<year>.<id>.cairn-bundle.json` (the API, the command, the admin)."""
    response = HttpResponse(bundle.dumps(build_bundle(verification)), content_type=bundles.MEDIA_TYPE)
    name = s45x_bundle.file_name(verification.batch_id, verification.taxable_year, verification.pk)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
