"""Test support: organisations with keys, and a ledger client that signs.

`Party` is an organisation with its API token and an Ed25519 key registered
through the key service. `Ledger` builds statements the way a supplier's
client would (sign the payload bytes, post the envelope) and appends them
through the real write path, so tests and benchmarks exercise exactly what
the API runs.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from cairn_core import dsse
from cairn_core.payload import PAYLOAD_TYPE, SCHEMA
from demo import data as demo
from demo.data import rfc3339
from provenance import ingest
from provenance.keys import register_key
from provenance.models import Batch
from provenance.organizations import create_organization


class Party(demo.Party):
    """The demo's party, with what tests need besides."""

    @property
    def auth(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Token {self.token}"}

    def new_key(self) -> tuple[Ed25519PrivateKey, str]:
        private_key = Ed25519PrivateKey.generate()
        key, _ = register_key(organization=self.org, public_key_b64=dsse.b64encode(dsse.raw_public_key(private_key)))
        return private_key, key.keyid


def make_party(slug: str, roles: list[str], country: str = "US", name: str | None = None) -> Party:
    org, token = create_organization(slug=slug, name=name or slug.title(), country=country, roles=roles)
    private_key = Ed25519PrivateKey.generate()
    key, _ = register_key(organization=org, public_key_b64=dsse.b64encode(dsse.raw_public_key(private_key)))
    party = PARTIES[slug] = Party(org=org, token=token.key, private_key=private_key, keyid=key.keyid)
    return party


# Every party `make_party` made, by slug (the latest of each): who co-signs for a custodian.
PARTIES: dict[str, Party] = {}


def sign_payload(payload: dict | bytes, *signers: Party) -> bytes:
    """The envelope a client would POST, as JSON bytes."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    envelope = dsse.sign(PAYLOAD_TYPE, raw, [(party.keyid, party.private_key) for party in signers])
    return json.dumps(envelope.to_stored()).encode()


@dataclass
class Ledger:
    """Builds and appends signed statements through provenance.ingest."""

    now: dt.datetime | None = None
    counter: int = field(default=0)

    def statement(self, kind: str, issuer: Party, **fields) -> dict:
        issued = self.now or timezone.now()
        payload = {"schema": SCHEMA, "type": kind, "issuer": issuer.slug, "issued_at": rfc3339(issued)}
        payload.update(fields)
        return payload

    def post(self, issuer: Party, payload: dict, *cosigners: Party, now: dt.datetime | None = None):
        body = sign_payload(payload, issuer, *cosigners)
        return ingest.append_attestation(body, acting_org=issuer.org, now=now or self.now)

    def head(self, batch_id: str) -> str:
        return Batch.objects.get(id=batch_id).head

    def local(self, issuer: Party, name: str | None = None) -> str:
        self.counter += 1
        return f"{issuer.slug}:{name or f'b{self.counter}'}"

    def origin(self, issuer: Party, *, batch: str | None = None, occurred_at: str | None = None, **fields) -> str:
        """Post an origin of a new batch (see `origin_statement`); return its id."""
        batch = batch or self.local(issuer)
        payload = self.origin_statement(issuer, batch=batch, **fields)
        if occurred_at:
            payload["occurred_at"] = occurred_at
        self.post(issuer, payload)
        return batch

    def origin_statement(
        self,
        issuer: Party,
        *,
        batch: str,
        minerals: dict[str, str] | None = None,
        quantity: str = "1000",
        country: str = "AU",
        value: str = "1000",
        material: str = "spodumene concentrate",
        activity: str = "extraction",
        site: str | None = None,
    ) -> dict:
        """The payload of an origin creating `batch`, unsigned."""
        return self.statement(
            "origin",
            issuer,
            activity=activity,
            site={"name": site or f"{issuer.slug} site", "country": country},
            outputs=[
                {
                    "batch": batch,
                    "material": material,
                    "quantity": quantity,
                    "unit": "kg",
                    "minerals": minerals or {"lithium": "60" if Decimal(quantity) >= 1000 else tenth(quantity)},
                    "value_added_usd": value,
                }
            ],
        )

    def transform(
        self,
        issuer: Party,
        inputs: list[tuple[str, str]],
        outputs: list[dict],
        *,
        activity: str = "processing",
        country: str = "US",
        occurred_at: str | None = None,
    ) -> list[str]:
        """inputs: (batch, quantity); outputs: dicts with at least quantity."""
        built = []
        for output in outputs:
            item = {
                "batch": output.get("batch") or self.local(issuer),
                "material": output.get("material", "processed material"),
                "quantity": output["quantity"],
                "unit": output.get("unit", "kg"),
                "value_added_usd": output.get("value_added_usd", "100"),
            }
            if "component" in output:
                item["component"] = output["component"]
            built.append(item)
        payload = self.statement(
            "transform",
            issuer,
            activity=activity,
            site={"name": f"{issuer.slug} plant", "country": country},
            inputs=[{"batch": b, "prev": self.head(b), "quantity": q} for b, q in inputs],
            outputs=built,
        )
        if occurred_at:
            payload["occurred_at"] = occurred_at
        self.post(issuer, payload)
        return [item["batch"] for item in built]

    def transfer(self, issuer: Party, batch: str, to: Party, *, cosign: bool = False):
        payload = self.statement("transfer", issuer, batch=batch, prev=self.head(batch), to=to.slug)
        return self.post(issuer, payload, *([to] if cosign else []))

    def certify(self, issuer: Party, batch: str, statement: dict | None = None, *, custodian: Party | None = None):
        """A certification, co-signed by the batch's custodian (by default the
        party made by `make_party` with the custodian's slug), as the write path wants."""
        custodian = custodian or PARTIES[Batch.objects.get(id=batch).custodian_id]
        payload = self.statement(
            "certify",
            issuer,
            batch=batch,
            prev=self.head(batch),
            statement=statement or {"assay": "lithium 6.0%"},
            documents=[{"name": "assay.pdf", "sha256": "0" * 64}],
        )
        return self.post(issuer, payload, *([custodian] if custodian is not issuer else []))

    def claim(
        self,
        issuer: Party,
        batch: str,
        vin: str,
        *,
        acquired: str = "2024-06-01",
        placed_in_service: str = "2024-06-15",
        country: str = "US",
        quantity: str = "1",
    ):
        payload = self.statement(
            "claim",
            issuer,
            batch=batch,
            prev=self.head(batch),
            quantity=quantity,
            vin=vin,
            acquired=acquired,
            placed_in_service=placed_in_service,
            final_assembly={"name": "Assembly plant", "country": country},
        )
        return self.post(issuer, payload)


def mine_to_claim(ledger: Ledger, miner: Party, refiner: Party, maker: Party, vin: str) -> dict[str, str]:
    """A short chain: mine -> refinery -> (transfer) -> cell plant -> pack -> claim."""
    ore = ledger.origin(miner, minerals={"lithium": "60"}, quantity="1000", country="AU")
    ledger.transfer(miner, ore, refiner)
    (hydroxide,) = ledger.transform(
        refiner, [(ore, "1000")], [{"quantity": "100", "value_added_usd": "900"}], country="JP"
    )
    ledger.transfer(refiner, hydroxide, maker)
    (cells,) = ledger.transform(
        maker,
        [(hydroxide, "100")],
        [{"quantity": "10", "unit": "unit", "component": "battery_cell", "value_added_usd": "5000"}],
        activity="manufacturing",
    )
    (pack,) = ledger.transform(
        maker,
        [(cells, "10")],
        [{"quantity": "1", "unit": "unit", "component": "battery_pack", "value_added_usd": "2000"}],
        activity="assembly",
    )
    ledger.claim(maker, pack, vin)
    return {"ore": ore, "hydroxide": hydroxide, "cells": cells, "pack": pack}


def tenth(quantity: str) -> str:
    """A tenth of `quantity` as a decimal string: minerals a small batch can hold."""
    return format((Decimal(quantity) / 10).normalize(), "f")


def decimal(value: str) -> Decimal:
    return Decimal(value)


def ledger_snapshot() -> dict:
    """Everything a refused request must leave untouched."""
    from provenance.models import BatchLink, Claim, Entry, EntrySignature, LogState, MerkleNode

    state = LogState.objects.filter(id=1).values("size", "frontier").first()
    return {
        "entries": Entry.objects.count(),
        "signatures": EntrySignature.objects.count(),
        "links": BatchLink.objects.count(),
        "claims": Claim.objects.count(),
        "nodes": MerkleNode.objects.count(),
        "state": state,
        "batches": list(Batch.objects.order_by("id").values_list("id", "head", "consumed", "custodian_id")),
    }
