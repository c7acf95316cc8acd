"""A §45X proof bundle made by hand, with no server (as tests/core/offline_bundle.py makes §30D's).

A US cell maker buys from suppliers in KR, JP, CN and the US; each supplier
creates its batch (an origin) and transfers it to the maker; KR, JP and CN
certify for 2026 (CN is designated a PFE), the US supplier does not; the
maker's transform consumes the four with their costs and makes a battery
cell batch, which it sells in November 2026. The ledger entries (§45X rule
data, organisations, keys) come first, as a ledger of v1.2 logs them. The
verdict is the core's, signed by the log key, with its macr_verdict entry
proved against a later checkpoint.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

from cairn_core import dsse, signed_note, tlog_proof
from cairn_core.entries import Key, decode_envelope
from cairn_core.payload import PERJURY_STATEMENT
from cairn_core.regimes.s45x import bundle as bundle45
from cairn_core.regimes.s45x import rules as rules45
from cairn_core.regimes.s45x import verdict as verdicts
from cairn_core.regimes.s45x.macr import Logged
from tests.core.offline_bundle import ORIGIN, REGISTERED, OfflineLedger, Org, rfc3339
from tests.support import ref_path, ref_proof

CELL = "ohio-cells:cell-1"
VERIFIED_AT = "2027-03-01T10:00:00Z"
REQUESTED_BY = {"organization": "examiners", "user": "alice"}
# (supplier, country, its batch, the maker's direct material cost of it)
SUPPLIERS = [
    ("kr-cathode", "KR", "kr-cathode:cam-1", "50"),
    ("jp-anode", "JP", "jp-anode:an-1", "20"),
    ("cn-electrolyte", "CN", "cn-electrolyte:el-1", "10"),
    ("us-separator", "US", "us-separator:sep-1", "20"),
]


def build(
    ruleset: rules45.Rules, *, certify: tuple[str, ...] = ("kr-cathode", "jp-anode", "cn-electrolyte")
) -> tuple[OfflineLedger, dict]:
    """The ledger and the bundle of the cell batch's 2026 verdict."""
    ledger = OfflineLedger()
    maker = ledger.org("ohio-cells", "US", "manufacturer")
    orgs = {slug: ledger.org(slug, country, "supplier") for slug, country, _batch, _cost in SUPPLIERS}
    log_state(ledger, ruleset)
    for slug, _country, batch, _cost in SUPPLIERS:
        ledger.append(orgs[slug], origin(batch))
        ledger.append(orgs[slug], {"type": "transfer", "batch": batch, "prev": ledger.head(batch), "to": maker.slug})
    inputs = [
        {"batch": batch, "prev": ledger.head(batch), "quantity": "100", "direct_material_cost_usd": cost}
        for _slug, _country, batch, cost in SUPPLIERS
    ]
    ledger.append(maker, transform(inputs))
    for slug, _country, batch, _cost in SUPPLIERS:
        if slug in certify:
            ledger.append(orgs[slug], certification(batch, ledger.head(batch)))
    ledger.append(maker, sale(ledger.head(CELL)))
    return ledger, bundle_of(ledger, ruleset)


def log_state(ledger: OfflineLedger, ruleset: rules45.Rules) -> None:
    fields = {
        "version": ruleset.version,
        "sha256": ruleset.version,
        "changes": [],
        "reason": "the §45X rule data when logging began",
        "source": "the tests",
        "by": "command:test",
        "regime": "45x",
    }
    ledger.append_ledger("rules", fields, REGISTERED)
    for org in ledger.orgs.values():
        org_fields = {"slug": org.slug, "name": org.slug.title(), "country": org.country, "roles": sorted(org.roles)}
        ledger.append_ledger("organization", org_fields, REGISTERED)
        key_fields = {"organization": org.slug, "keyid": org.keyid, "public_key": dsse.b64encode(org.public_key)}
        ledger.append_ledger("key_registered", key_fields, REGISTERED)


def origin(batch: str) -> dict:
    return {
        "type": "origin",
        "activity": "extraction",
        "site": {"name": "Plant", "country": "US"},
        "outputs": [
            {
                "batch": batch,
                "material": "material",
                "quantity": "100",
                "unit": "kg",
                "minerals": {"lithium": "1"},
                "value_added_usd": "10",
            }
        ],
    }


def transform(inputs: list[dict]) -> dict:
    return {
        "type": "transform",
        "activity": "manufacturing",
        "site": {"name": "Ohio", "country": "US"},
        "inputs": inputs,
        "outputs": [
            {
                "batch": CELL,
                "material": "LFP cell",
                "quantity": "1000",
                "unit": "unit",
                "value_added_usd": "100",
                "component": "battery_cell",
            }
        ],
    }


def certification(batch: str, prev: str) -> dict:
    return {
        "type": "supplier_certification",
        "batch": batch,
        "prev": prev,
        "taxpayer": "ohio-cells",
        "taxable_year": 2026,
        "status": "certified",
        "supplier_tin": {"kind": "foreign", "sha256": "cd" * 32},
        "not_produced_by_pfe": True,
        "no_knowledge_of_prior_pfe": True,
        "direct_material_cost_usd": "1000",
        "non_pfe_direct_material_cost_usd": "1000",
        "penalties_of_perjury": PERJURY_STATEMENT,
    }


def sale(prev: str) -> dict:
    return {
        "type": "sale",
        "batch": CELL,
        "prev": prev,
        "quantity": "1000",
        "sold_on": "2026-11-30",
        "buyer": {"name": "Lakeshore Pack Assembly", "country": "US"},
    }


def statements(ledger: OfflineLedger) -> list[Logged]:
    found = []
    for index, leaf in enumerate(ledger.leaves):
        row = json.loads(leaf)
        decoded = decode_envelope(row["envelope"])
        if not decoded.is_ledger_entry:
            found.append(
                Logged(
                    index, decoded.entry_hash, row["integrated_time"], decoded.payload, tuple(sorted(decoded.keyids))
                )
            )
    return found


def keys_of(orgs: list[Org]) -> dict[str, Key]:
    return {org.keyid: Key.of(org.public_key, org.slug, REGISTERED, None) for org in orgs}


def bundle_of(ledger: OfflineLedger, ruleset: rules45.Rules, verification_id: int = 7) -> dict:
    """Every entry logged so far, the core's verdict signed by the log key, its macr_verdict entry."""
    checkpoint = ledger.checkpoint()
    leaves = [leaf.encode() for leaf in ledger.leaves]
    as_of = dt.datetime.fromisoformat(VERIFIED_AT.replace("Z", "+00:00"))
    body = verdicts.verdict_of(
        statements(ledger), CELL, 2026, ruleset, keys_of(list(ledger.orgs.values())), as_of=as_of, checkpoint=checkpoint
    )
    body = {"id": verification_id, **body, "verified_at": VERIFIED_AT, "requested_by": REQUESTED_BY}
    report = dsse.sign(verdicts.REPORT_TYPE, verdicts.report_payload(body), [(ledger.log_keyid, ledger.log_key)])
    document = bundle45.assemble(
        {**body, "report": report.to_stored()},
        log={
            "origin": ORIGIN,
            "public_key": dsse.b64encode(dsse.raw_public_key(ledger.log_key)),
            "verifier": ledger.verifier,
        },
        checkpoint=checkpoint,
        cosignatures=[],
        entries=[
            {
                "index": index,
                "leaf_input": leaf,
                "proof": tlog_proof.format_proof(index, ref_path(index, leaves), checkpoint),
            }
            for index, leaf in enumerate(ledger.leaves)
        ],
        keys=[
            {
                "keyid": org.keyid,
                "organization": org.slug,
                "public_key": dsse.b64encode(org.public_key),
                "registered_at": rfc3339(REGISTERED),
                "revoked_at": None,
            }
            for org in ledger.orgs.values()
        ],
        organizations=[
            {"slug": org.slug, "name": org.slug.title(), "country": org.country, "roles": sorted(org.roles)}
            for org in ledger.orgs.values()
        ],
        rules=ruleset,
    )
    log_verdict(ledger, document)
    return document


def log_verdict(ledger: OfflineLedger, document: dict) -> int:
    """Append the verdict's macr_verdict entry, publish a later checkpoint, give the bundle its section."""
    verdict = document["verdict"]
    fields = {
        "verification": verdict["id"],
        "batch": verdict["batch"],
        "taxable_year": verdict["taxable_year"],
        "outcome": verdict["outcome"],
        "integrity": verdict["integrity"],
        "report_sha256": hashlib.sha256(base64.b64decode(verdict["report"]["payload"])).hexdigest(),
        "requested_by": verdict["requested_by"],
    }
    at = dt.datetime.fromisoformat(verdict["verified_at"].replace("Z", "+00:00"))
    index = ledger.append_ledger("macr_verdict", fields, at)
    later = ledger.checkpoint()
    leaves = [leaf.encode() for leaf in ledger.leaves]
    size = signed_note.parse_checkpoint(signed_note.split_note(document["checkpoint"])[0]).tree_size
    document["verdict_entry"] = {
        "index": index,
        "leaf_input": ledger.leaves[index],
        "checkpoint": later,
        "cosignatures": [],
        "proof": tlog_proof.format_proof(index, ref_path(index, leaves), later),
        "consistency": [dsse.b64encode(item) for item in ref_proof(size, leaves)],
    }
    return index


def resign(ledger: OfflineLedger, document: dict) -> None:
    """Sign the (changed) verdict again with the log key, as a dishonest operator could."""
    body = {key: value for key, value in document["verdict"].items() if key != "report"}
    report = dsse.sign(verdicts.REPORT_TYPE, verdicts.report_payload(body), [(ledger.log_keyid, ledger.log_key)])
    document["verdict"]["report"] = report.to_stored()
