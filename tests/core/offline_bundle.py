"""A proof bundle made by hand, with no server: keys, statements, a log and its proofs.

The tree and the inclusion paths come from the tests' own RFC 9162 reference
(tests/core/test_merkle.py), the checkpoint from a test log key, and the
verdict is whatever the test writes down: so `cairn_core.regimes.s30d.bundle.verify`
is checked against figures a person computed, not against the server.
Witnesses are keys of the test too: `cosign` adds their lines to a bundle.

Ledger entries (contract §12) are appended by `append_ledger`, signed by
the log key: `log_state` logs the rule data, every organisation and every
key, as a ledger of v1.2 does before its attestations, and `log_verdict`
appends a bundle's verdict entry after its checkpoint and gives the bundle
its `verdict_entry` section, proved against a later checkpoint.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core import bundle, cosignature, dsse, ledger_entries, signed_note, tlog_proof
from cairn_core.entries import named_batches
from cairn_core.payload import PAYLOAD_TYPE, SCHEMA
from cairn_core.regimes.s30d import rules, ruleset_json
from cairn_core.regimes.s30d import verdict as verdicts
from tests.support import ref_mth, ref_path, ref_proof

ORIGIN = "offline.test/ledger"
REGISTERED = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
# Contract §5 (v1.2): when and by whom the verification was made; signed, not recomputable.
REQUESTED = {"verified_at": "2026-12-07T10:00:00Z", "requested_by": {"organization": "examiners", "user": "alice"}}
COSIGNED_AT = int(dt.datetime(2026, 12, 7, 10, 0, 5, tzinfo=dt.UTC).timestamp())


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Org:
    slug: str
    country: str
    roles: list[str]
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_key(self) -> bytes:
        return dsse.raw_public_key(self.key)

    @property
    def keyid(self) -> str:
        return dsse.keyid_for(self.public_key)


@dataclass
class OfflineLedger:
    """Appends signed statements to an in-memory log, as a client and a log would."""

    orgs: dict[str, Org] = field(default_factory=dict)
    leaves: list[str] = field(default_factory=list)
    heads: dict[str, str] = field(default_factory=dict)
    log_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    witnesses: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    clock: int = int(dt.datetime(2024, 6, 1, tzinfo=dt.UTC).timestamp())

    def org(self, slug: str, country: str, *roles: str) -> Org:
        self.orgs[slug] = Org(slug, country, list(roles))
        return self.orgs[slug]

    def append(self, issuer: Org, payload: dict) -> int:
        body = {"schema": SCHEMA, "issuer": issuer.slug, "issued_at": rfc3339(self._now()), **payload}
        raw = json.dumps(body).encode()
        envelope = dsse.sign(PAYLOAD_TYPE, raw, [(issuer.keyid, issuer.key)])
        index = self._log(envelope)
        for batch in [*named_batches(body), *(item["batch"] for item in body.get("outputs", []))]:
            self.heads[batch] = envelope.entry_hash
        return index

    def _log(self, envelope: dsse.Envelope) -> int:
        self.clock += 60
        leaf = json.dumps(
            {"envelope": envelope.to_stored(), "integrated_time": self.clock}, sort_keys=True, separators=(",", ":")
        )
        self.leaves.append(leaf)
        return len(self.leaves) - 1

    # --- ledger entries (contract §12) ---------------------------------------------

    def append_ledger(
        self, kind: str, fields: dict, at: dt.datetime | None = None, key: Ed25519PrivateKey | None = None
    ) -> int:
        """A ledger entry of `kind`, signed by the log key (or `key`, as a forger would), recorded `at`."""
        document = ledger_entries.payload(kind, at or self._now(), fields)
        signer = key or self.log_key
        keyid = dsse.keyid_for(dsse.raw_public_key(signer))
        envelope = dsse.sign(
            ledger_entries.LEDGER_PAYLOAD_TYPE, ledger_entries.payload_bytes(document), [(keyid, signer)]
        )
        return self._log(envelope)

    def log_state(self, ruleset: rules.RuleSet) -> None:
        """The rule data, every organisation and every key (registered at REGISTERED), logged."""
        rules_fields = {
            "version": ruleset.version,
            "sha256": ruleset_json.digest(ruleset),
            "changes": [],
            "reason": "the rule data when logging began",
            "source": "the tests",
            "by": "command:test",
        }
        self.append_ledger("rules", rules_fields, REGISTERED)
        for org in self.orgs.values():
            fields = {"slug": org.slug, "name": org.slug.title(), "country": org.country, "roles": sorted(org.roles)}
            self.append_ledger("organization", fields, REGISTERED)
            key_fields = {"organization": org.slug, "keyid": org.keyid, "public_key": dsse.b64encode(org.public_key)}
            self.append_ledger("key_registered", key_fields, REGISTERED)

    def log_verdict(self, document: dict, **changed: object) -> int:
        """Append the bundle's verdict entry (its fields `changed` as given), publish a later
        checkpoint, and give the bundle its `verdict_entry` section; the entry's index."""
        verdict = document["verdict"]
        fields = {
            "verification": verdict["id"],
            "vin": verdict["vin"],
            "claim_index": verdict["claim_index"],
            "credit_usd": verdict["credit_usd"],
            "integrity": verdict["integrity"],
            "report_sha256": hashlib.sha256(base64.b64decode(verdict["report"]["payload"])).hexdigest(),
            "requested_by": verdict["requested_by"],
            **changed,
        }
        at = dt.datetime.fromisoformat(verdict["verified_at"].replace("Z", "+00:00"))
        index = self.append_ledger("verdict", fields, at)
        later = self.checkpoint()
        leaves = [leaf.encode() for leaf in self.leaves]
        size = signed_note.parse_checkpoint(signed_note.split_note(document["checkpoint"])[0]).tree_size
        document["verdict_entry"] = {
            "index": index,
            "leaf_input": self.leaves[index],
            "checkpoint": later,
            "cosignatures": [],
            "proof": tlog_proof.format_proof(index, ref_path(index, leaves), later),
            "consistency": [dsse.b64encode(item) for item in ref_proof(size, leaves)],
        }
        return index

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock, dt.UTC)

    def head(self, batch: str) -> str:
        return self.heads[batch]

    # --- the bundle ----------------------------------------------------------------

    @property
    def verifier(self) -> str:
        return signed_note.verifier_string(ORIGIN, dsse.raw_public_key(self.log_key))

    def checkpoint(self) -> str:
        leaves = [leaf.encode() for leaf in self.leaves]
        return signed_note.sign_checkpoint(ORIGIN, len(leaves), ref_mth(leaves), self.log_key)

    def witness(self, name: str) -> str:
        """A new witness of this log; its vkey."""
        self.witnesses[name] = Ed25519PrivateKey.generate()
        return cosignature.vkey(name, cosignature.public_key_of(self.witnesses[name]))

    def cosign(self, document: dict, name: str, timestamp: int = COSIGNED_AT) -> str:
        """Witness `name` cosigns the bundle's checkpoint: its line is added to "cosignatures"."""
        body, _signatures = signed_note.split_note(document["checkpoint"])
        line = cosignature.cosign(body, name, self.witnesses[name], timestamp)
        document.setdefault("cosignatures", []).append(line)
        return line

    def bundle(
        self,
        vin: str,
        verdict: dict,
        issuers: dict,
        ruleset: rules.RuleSet,
        *,
        verification_id: int = 1,
        requested: dict | None = None,
    ) -> dict:
        """The bundle of every entry, with `verdict` signed by the log key.

        The figures (`verdict`: the contract's fields) and the issuers'
        countries are the test's, written by hand. The verdict's descriptive
        sections (`scope`, and `applied`: dates, schedule row, method,
        citations) are filled in from the core, with the hand-written
        issuers and this ruleset's version and digest. `requested` is the
        verdict's verified_at and requested_by (REQUESTED unless given; {}
        for a verdict from before v1.2). No witness has cosigned yet.
        """
        checkpoint = self.checkpoint()
        leaves = [leaf.encode() for leaf in self.leaves]
        body = {
            "id": verification_id,
            **verdict,
            **(REQUESTED if requested is None else requested),
            "checkpoint": checkpoint,
            "scope": verdicts.scope(),
            "applied": {
                **self._applied(verdict["claim_index"], issuers, ruleset),
                "rules_version": ruleset.version,
                "rules_sha256": ruleset_json.digest(ruleset),
                "issuer_countries": issuers,
            },
        }
        report = dsse.sign(verdicts.REPORT_TYPE, verdicts.report_payload(body), [(self.log_keyid, self.log_key)])
        return {
            "bundle": bundle.BUNDLE,
            "vin": vin,
            "verdict": {**body, "report": report.to_stored()},
            "log": {
                "origin": ORIGIN,
                "public_key": dsse.b64encode(dsse.raw_public_key(self.log_key)),
                "verifier": self.verifier,
            },
            "checkpoint": checkpoint,
            "cosignatures": [],
            "entries": [
                {
                    "index": index,
                    "leaf_input": leaf,
                    "proof": tlog_proof.format_proof(index, ref_path(index, leaves), checkpoint),
                }
                for index, leaf in enumerate(self.leaves)
            ],  # every entry, ledger entries (contract §12) among them
            "keys": [
                {
                    "keyid": org.keyid,
                    "organization": org.slug,
                    "public_key": dsse.b64encode(org.public_key),
                    "registered_at": rfc3339(REGISTERED),
                    "revoked_at": None,
                }
                for org in self.orgs.values()
            ],
            "organizations": [
                {"slug": org.slug, "name": org.slug.title(), "country": org.country, "roles": org.roles}
                for org in self.orgs.values()
            ],
            "rules": ruleset_json.to_json(ruleset),
        }

    def _applied(self, claim_index: int, issuers: dict, ruleset: rules.RuleSet) -> dict:
        envelopes = {index: json.loads(leaf)["envelope"] for index, leaf in enumerate(self.leaves)}
        statements = {
            index: json.loads(base64.b64decode(envelope["payload"]))
            for index, envelope in envelopes.items()
            if envelope["payloadType"] == PAYLOAD_TYPE
        }
        facts = verdicts.claim_facts(claim_index, statements[claim_index])
        dag = verdicts.upstream(statements, claim_index)
        done, _problems = verdicts.assess(facts, statements, dag, issuers, ruleset)
        return verdicts.applied(facts, done, ruleset, issuers)

    @property
    def log_keyid(self) -> str:
        return dsse.keyid_for(dsse.raw_public_key(self.log_key))

    def resign_report(self, document: dict) -> None:
        """Sign the (changed) verdict again with the log key, as a dishonest operator could."""
        body = {key: value for key, value in document["verdict"].items() if key != "report"}
        report = dsse.sign(verdicts.REPORT_TYPE, verdicts.report_payload(body), [(self.log_keyid, self.log_key)])
        document["verdict"]["report"] = report.to_stored()


VIN = "5YJ3E1EA0PF000777"


HAND_COMPUTED = {
    "vin": VIN,
    "claim_index": 6,
    "integrity": "intact",
    "credit_usd": "3750",
    "requirements": {
        "critical_minerals": {"met": False, "qualifying_pct": "26.53", "required_pct": "60"},
        "battery_components": {"met": True, "north_america_pct": "100.00", "required_pct": "60"},
        "foreign_entity_of_concern": {"met": True},
        "final_assembly": {"met": True},
        "credit_in_force": {"met": True},
    },
    "agreements": ["us-au-fta"],  # the AU lineage qualifies by it, though too small a share
    "problems": [
        {
            "code": "critical_minerals",
            "message": "qualifying critical mineral content 26.53% is below the required 60%",
            "index": 6,
        }
    ],
}


ISSUERS = {"au-mine": "AU", "detroit-cells": "US", "id-mine": "ID", "id-refiner": "ID"}


def site(name: str, country: str) -> dict:
    return {"name": name, "country": country}


def origin(ledger, org, batch, mineral, kg, value, country):
    output = {
        "batch": batch,
        "material": "ore",
        "quantity": "1000",
        "unit": "kg",
        "minerals": {mineral: kg},
        "value_added_usd": value,
    }
    payload = {"type": "origin", "activity": "extraction", "site": site("mine", country), "outputs": [output]}
    return ledger.append(org, {**payload, "occurred_at": "2024-03-01T00:00:00Z"})


def transform(ledger, org, activity, inputs, output, country):
    payload = {
        "type": "transform",
        "activity": activity,
        "site": site(activity, country),
        "inputs": [{"batch": batch, "prev": ledger.head(batch), "quantity": quantity} for batch, quantity in inputs],
        "outputs": [output],
    }
    return ledger.append(org, payload)


def log_chain(ledger: OfflineLedger, au, idm, refiner, maker) -> int:
    """Two mines, a refiner, cells and a pack, and the claim: the claim's index."""
    origin(ledger, au, "au-mine:ORE", "lithium", "60", "1000", "AU")
    origin(ledger, idm, "id-mine:ORE", "nickel", "120", "3000", "ID")
    cam = {"batch": "id-refiner:CAM", "material": "cathode active material", "quantity": "500", "unit": "kg"}
    transform(
        ledger, refiner, "processing", [("au-mine:ORE", "1000"), ("id-mine:ORE", "1000")],
        {**cam, "value_added_usd": "900"}, "ID",
    )  # fmt: skip
    ledger.append(
        refiner,
        {"type": "transfer", "batch": "id-refiner:CAM", "prev": ledger.head("id-refiner:CAM"), "to": maker.slug},
    )
    cells = {"batch": "detroit-cells:CELLS", "material": "cells", "quantity": "100", "unit": "unit"}
    transform(
        ledger, maker, "manufacturing", [("id-refiner:CAM", "500")],
        {**cells, "value_added_usd": "5000", "component": "battery_cell"}, "US",
    )  # fmt: skip
    pack = {"batch": "detroit-cells:PACK", "material": "pack", "quantity": "1", "unit": "unit"}
    transform(
        ledger, maker, "assembly", [("detroit-cells:CELLS", "100")],
        {**pack, "value_added_usd": "2000", "component": "battery_pack"}, "US",
    )  # fmt: skip
    claim = {
        "type": "claim",
        "batch": "detroit-cells:PACK",
        "prev": ledger.head("detroit-cells:PACK"),
        "quantity": "1",
        "vin": VIN,
        "acquired": "2025-03-01",
        "placed_in_service": "2025-03-15",
        "final_assembly": site("assembly plant", "US"),
    }
    return ledger.append(maker, claim)
