"""Test support: organisations with keys, and a ledger client that signs.

`Party` is an organisation with its API token and an Ed25519 key registered
through the key service. `Ledger` builds statements the way a supplier's
client would (sign the payload bytes, post the envelope) and appends them
through the real write path, so tests and benchmarks exercise exactly what
the API runs.

This is the one module of helpers that test modules share: posting through
the API, chains and claims, changing stored rows behind the ledger's back,
the Celery worker a test starts, RFC 6962's reference Merkle functions.
No test module imports from another; fixtures shared across folders are in
tests/conftest.py, the production run's harness in tests/ops/stack.py, and
the offline bundle builder in tests/core/offline_bundle.py.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from agreements.snapshot import current_ruleset
from audit.engine import evaluate_claim
from cairn_core import cosignature, dsse, merkle, signed_note
from cairn_core.client.witness_server import WitnessServer, bind
from cairn_core.payload import PAYLOAD_TYPE, PERJURY_STATEMENT, SCHEMA
from cairn_core.tlog_witness import Witness, WitnessState
from demo import data as demo
from demo.data import rfc3339
from provenance import checkpoints, ledger_key, tlog
from provenance.append import checks
from provenance.errors import LedgerError
from provenance.keys import register_key
from provenance.models import Batch, BatchLink, Claim, Entry, LogState, MerkleNode, Organization
from provenance.organizations import create_organization

MARCH = "2024-03-01T00:00:00Z"
APRIL = "2024-04-01T00:00:00Z"
MAY = "2024-05-01T00:00:00Z"
# The claims of the `tampered` fixture (tests/conftest.py).
TAMPERED_VIN, TAMPERED_OTHER = "5YJ3E1EA0PF000002", "5YJ3E1EA0PF000003"


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
    """Builds and appends signed statements through provenance.append.checks."""

    now: dt.datetime | None = None
    counter: int = field(default=0)

    def statement(self, kind: str, issuer: Party, **fields) -> dict:
        issued = self.now or timezone.now()
        payload = {"schema": SCHEMA, "type": kind, "issuer": issuer.slug, "issued_at": rfc3339(issued)}
        payload.update(fields)
        return payload

    def post(self, issuer: Party, payload: dict, *cosigners: Party, now: dt.datetime | None = None):
        body = sign_payload(payload, issuer, *cosigners)
        return checks.append_attestation(body, acting_org=issuer.org, now=now or self.now)

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

    def supplier_certification_statement(
        self, issuer: Party, batch: str, taxpayer: Party, *, year: int = 2026, **fields
    ) -> dict:
        """A §45X supplier certification of `batch` for `taxpayer` and `year`, certified
        with the supplier's costs ($100, $90 of it not from a PFE) unless `fields` say otherwise."""
        certified = {
            "status": "certified",
            "supplier_tin": {"kind": "foreign", "value": "124-81-55673"},
            "not_produced_by_pfe": True,
            "no_knowledge_of_prior_pfe": True,
            "direct_material_cost_usd": "100",
            "non_pfe_direct_material_cost_usd": "90",
            "penalties_of_perjury": PERJURY_STATEMENT,
        }
        if fields.get("status") == "revoked":
            certified = {}
        body = {"batch": batch, "prev": self.head(batch), "taxpayer": taxpayer.slug, "taxable_year": year}
        return self.statement("supplier_certification", issuer, **body, **{**certified, **fields})

    def supplier_certification(self, issuer: Party, batch: str, taxpayer: Party, *, year: int = 2026, **fields):
        """Post it, co-signed by the batch's custodian (as a certification must be)."""
        custodian = PARTIES[Batch.objects.get(id=batch).custodian_id]
        payload = self.supplier_certification_statement(issuer, batch, taxpayer, year=year, **fields)
        return self.post(issuer, payload, *([custodian] if custodian is not issuer else []))

    def sale(self, issuer: Party, batch: str, quantity: str, *, sold_on: str = "2026-11-30", **fields):
        """A §45X sale of `quantity` of `batch` to a buyer outside Cairn."""
        payload = self.statement(
            "sale",
            issuer,
            batch=batch,
            prev=self.head(batch),
            quantity=quantity,
            sold_on=sold_on,
            buyer={"name": "Lakeshore Pack Assembly", "country": "US"},
            **fields,
        )
        return self.post(issuer, payload)


MACR_CELLS = "detroit-cells:cells-1"


def macr_cells(ledger: Ledger, miner: Party, refiner: Party, maker: Party) -> Batch:
    """Cells made in the US from two suppliers' materials, $100 of direct materials:
    $60 from the refiner (JP), who certified for 2026 that none came from a PFE,
    and $40 from the miner (AU), who gave no certification: the $40 is attributed
    to PFEs (missing certification). MACR = (100 - 40) / 100 = 60%, sold in
    November 2026: a pass at 2026's 60%, a fail at 2027's 65%. A checkpoint covers it."""
    cathode = ledger.origin(refiner, batch="kansai-refining:cam-1", quantity="100", country="JP")
    graphite = ledger.origin(miner, batch="pilbara-mining:graphite-1", quantity="100", country="AU")
    for supplier, batch in ((refiner, cathode), (miner, graphite)):
        ledger.transfer(supplier, batch, maker)
    payload = ledger.statement(
        "transform",
        maker,
        activity="manufacturing",
        site={"name": "Detroit cell plant", "country": "US"},
        inputs=[
            {"batch": cathode, "prev": ledger.head(cathode), "quantity": "50", "direct_material_cost_usd": "60"},
            {"batch": graphite, "prev": ledger.head(graphite), "quantity": "50", "direct_material_cost_usd": "40"},
        ],
        outputs=[
            {
                "batch": MACR_CELLS,
                "material": "NMC cells",
                "quantity": "500",
                "unit": "unit",
                "value_added_usd": "100",
                "component": "battery_cell",
            }
        ],
    )
    ledger.post(maker, payload)
    ledger.supplier_certification(
        refiner, cathode, maker, direct_material_cost_usd="100", non_pfe_direct_material_cost_usd="100"
    )
    ledger.sale(maker, MACR_CELLS, "500", sold_on="2026-11-30")
    checkpoints.publish_checkpoint()
    return Batch.objects.get(id=MACR_CELLS)


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
    from provenance.models import BatchLink, Claim, Entry, EntrySignature, LogState

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


ATTESTATIONS_URL = "/api/v1/attestations"


def post(api, party, body: bytes, **extra):
    return api.post(
        ATTESTATIONS_URL, data=body, content_type="application/json", **(party.auth if party else {}), **extra
    )


def assert_refused(api, party, body, code, status):
    before = ledger_snapshot()
    response = post(api, party, body)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert ledger_snapshot() == before
    return response.json()["error"]


def origin_payload(ledger, party, batch="pilbara-mining:ore-9", **overrides):
    payload = ledger.statement(
        "origin",
        party,
        activity="extraction",
        site={"name": "Mine", "country": "AU"},
        outputs=[
            {
                "batch": batch,
                "material": "spodumene",
                "quantity": "100",
                "unit": "kg",
                "minerals": {"lithium": "6"},
                "value_added_usd": "500",
            }
        ],
    )
    payload.update(overrides)
    return payload


def tamper_envelope(index: int, change) -> None:
    """Rewrite a stored envelope behind the ledger's back (as an attacker with
    database access would: on PostgreSQL past the append-only trigger)."""
    entry = Entry.objects.get(index=index)
    envelope = json.loads(entry.envelope)
    change(envelope)
    text = json.dumps(envelope, sort_keys=True, separators=(",", ":"))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute('UPDATE provenance_entry SET envelope = %s WHERE "index" = %s', [text, index])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")


def raise_value(envelope: dict) -> None:
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["outputs"][0]["value_added_usd"] = "9000"
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()


def race(bodies, party):
    """Post each body from its own thread at once; return results or error codes."""
    barrier = threading.Barrier(len(bodies))
    outcomes = [None] * len(bodies)

    def writer(position, body):
        try:
            barrier.wait()
            result = checks.append_attestation(body, acting_org=party(position).org)
            outcomes[position] = (result.status, result.entry.index)
        except LedgerError as error:
            outcomes[position] = (error.code, None)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=item) for item in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def assert_log_intact():
    indexes = list(Entry.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(len(indexes)))
    state = LogState.objects.get()
    assert state.size == len(indexes)
    leaves = [bytes.fromhex(h) for h in Entry.objects.order_by("index").values_list("leaf_hash", flat=True)]
    frontier = []
    for size, leaf in enumerate(leaves):
        frontier, _ = merkle.append_to_frontier(frontier, size, leaf)
    assert [f.hex() for f in frontier] == state.frontier
    # every batch's links form one chain: each prev is the entry_hash of the link before it
    for batch in Batch.objects.all():
        links = list(BatchLink.objects.filter(batch=batch).order_by("entry_id").select_related("entry"))
        for earlier, later in zip(links, links[1:], strict=False):
            assert later.prev == earlier.entry.entry_hash
        assert batch.head == links[-1].entry.entry_hash


ZERO = "0" * 64


def attestation(n: int) -> int:
    """The log index of the chain's n-th attestation (from 0): the personas'
    ledger entries (contract §12) come before the first."""
    return Entry.objects.exclude(type="ledger").order_by("index").values_list("index", flat=True)[n]


def change_envelope_byte(index: int) -> None:
    tamper(
        'UPDATE provenance_entry SET envelope = replace(envelope, \'"payloadType":"application\','
        ' \'"payloadType":"Application\') WHERE "index" = %s',
        [index],
    )


def change_leaf_hash(index: int) -> None:
    tamper('UPDATE provenance_entry SET leaf_hash = %s WHERE "index" = %s', [ZERO, index])


def change_prev_link(index: int) -> None:
    tamper("UPDATE provenance_batchlink SET prev = %s WHERE entry_id = %s", [ZERO, index])


def delete_entry(index: int) -> None:
    for table in ("provenance_entrysignature", "provenance_batchlink"):
        tamper(f"DELETE FROM {table} WHERE entry_id = %s", [index])
    tamper('DELETE FROM provenance_entry WHERE "index" = %s', [index])


def worker_environment(key_dir: Path) -> dict[str, str]:
    db = connection.settings_dict
    user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    url = f"postgres://{user}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
        "CAIRN_DEV_KEY_DIR": str(key_dir),
        "LEDGER_SIGNING_KEY": "",
        "LEDGER_ORIGIN": settings.LEDGER_ORIGIN,
    }


def stop(process: subprocess.Popen) -> None:
    """Stop the worker and its pool, and wait until their sessions are gone
    (the test database cannot be dropped while they hold connections)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # any pool process left behind
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and other_sessions():
        time.sleep(0.1)


def other_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def origin_body(ledger: Ledger, party, name: str) -> bytes:
    return sign_payload(origin_payload(ledger, party, batch=f"{party.slug}:{name}"), party)


def batch_body(*envelopes: bytes) -> bytes:
    """The envelopes' bytes exactly as given, in a batch body."""
    return b'{"envelopes": [' + b", ".join(envelopes) + b"]}"


BATCH_URL = "/api/v1/attestations/batch"


def post_batch(api, party, body: bytes):
    return api.post(BATCH_URL, data=body, content_type="application/json", **(party.auth if party else {}))


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


@dataclass
class RunningWitness:
    name: str
    key: Ed25519PrivateKey
    witness: Witness
    server: WitnessServer

    @property
    def vkey(self) -> str:
        return self.witness.vkey

    @property
    def config(self) -> dict[str, str]:
        return {"url": self.server.url, "vkey": self.vkey}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def latest(self) -> int | None:
        state = self.witness.state.latest(ledger_key.current().origin)
        return None if state is None else state.size


def start_witness(name: str, state_dir: Path) -> RunningWitness:
    key = Ed25519PrivateKey.generate()
    log = signed_note.parse_verifier(ledger_key.current().verifier)
    vkey = cosignature.vkey(name, cosignature.public_key_of(key))
    state = WitnessState.create(state_dir, vkey, [log.name])
    witness = Witness(name, key, [log], state)
    server = bind(witness, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return RunningWitness(name, key, witness, server)


def build_log(ledger, party, count: int) -> list[bytes]:
    """`count` real entries through the write path; their leaf hashes."""
    for _ in range(count):
        ledger.origin(party)
    return [bytes.fromhex(leaf) for leaf in Entry.objects.order_by("index").values_list("leaf_hash", flat=True)]


def health(client) -> tuple[int, dict]:
    response = client.get("/health", HTTP_ACCEPT="application/json")
    return response.status_code, response.json()


def failing(body: dict) -> list[str]:
    return sorted(name for name, state in body.items() if state != "OK")


MAX_SIZE = 64


def ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    """MTH over leaf *inputs* (§2.1.1)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return ref_leaf(leaves[0])
    k = ref_k(len(leaves))
    return ref_node(ref_mth(leaves[:k]), ref_mth(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = ref_k(len(leaves))
    if m < k:
        return ref_path(m, leaves[:k]) + [ref_mth(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [ref_mth(leaves)]
    k = ref_k(n)
    if m <= k:
        return ref_subproof(m, leaves[:k], complete) + [ref_mth(leaves[k:])]
    return ref_subproof(m - k, leaves[k:], False) + [ref_mth(leaves[:k])]


def ref_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    return ref_subproof(m, leaves, True) if 0 < m < len(leaves) else []


LEAVES = [f"leaf {i}".encode() for i in range(MAX_SIZE)]


LEAF_HASHES = [merkle.leaf_hash(data) for data in LEAVES]


REFERENCE_ROOTS = [ref_mth(LEAVES[:size]) for size in range(MAX_SIZE + 1)]


def append_bare_leaves(count: int) -> None:
    """Entries whose leaves are the reference LEAF_HASHES, appended through
    tlog.append_leaf as the write path does (no envelopes: proof tests only)."""
    org, _ = Organization.objects.get_or_create(
        slug="bare-log", defaults={"name": "Bare", "country": "US", "roles": ["supplier"]}
    )
    state = LogState.load()
    moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for _ in range(count):
        index = state.size
        Entry.objects.create(
            index=index,
            entry_hash=f"{index:064x}",
            envelope="{}",
            integrated_time=0,
            leaf_hash=LEAF_HASHES[index].hex(),
            type="origin",
            issuer=org,
            issued_at=moment,
            occurred_at=moment,
            statement={},
        )
        tlog.append_leaf(state, LEAF_HASHES[index])
    state.save()


def tamper(sql: str, params: list | None = None) -> None:
    """Change the database behind the application's back.

    On PostgreSQL the append-only triggers (and foreign keys) are bypassed
    for this statement with session_replication_role = replica, as an
    attacker with superuser access could.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params or [])
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")


def simple_chain(
    ledger: Ledger,
    miner: Party,
    refiner: Party,
    maker: Party,
    *,
    mine_country: str = "AU",
    refinery_country: str = "JP",
    **cells,
) -> str:
    """Ore (lithium 60 kg, 1000 USD) -> hydroxide (900 USD) -> cells -> pack."""
    ore = ledger.origin(miner, minerals={"lithium": "60"}, country=mine_country, occurred_at=MARCH)
    ledger.transfer(miner, ore, refiner)
    (hydroxide,) = ledger.transform(
        refiner,
        [(ore, "1000")],
        [{"quantity": "100", "value_added_usd": "900", "material": "lithium hydroxide"}],
        country=refinery_country,
        occurred_at=APRIL,
    )
    ledger.transfer(refiner, hydroxide, cells.get("cells_maker") or maker)
    return cells_and_pack(ledger, maker, hydroxide, "100", **cells)


def claim(ledger: Ledger, maker: Party, pack: str, vin: str, **options) -> Claim:
    ledger.claim(maker, pack, vin, **options)
    return Claim.objects.get(vin=vin)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


CHROMIUM = Path(os.environ.get("CAIRN_CHROMIUM", "/usr/bin/chromium"))


CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def log_in(page, live_server, username="auditor", password="cairn-demo-auditor"):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#cairn-desk")


def graph_nodes(page) -> int:
    page.wait_for_function("window.cairnGraph && window.cairnGraph.nodes().length > 0")
    return page.evaluate("window.cairnGraph.nodes().length")


def verify(*args: str) -> tuple[int, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_ledger", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue().splitlines()


def cells_and_pack(
    ledger: Ledger,
    maker: Party,
    material: str,
    quantity: str,
    *,
    cells_country: str = "US",
    cells_maker: Party | None = None,
    packs: str = "1",
) -> str:
    """Cells worth 5000 from `material`, then `packs` packs worth 2000 (assembly, US)."""
    cells_maker = cells_maker or maker
    (cells,) = ledger.transform(
        cells_maker,
        [(material, quantity)],
        [
            {
                "quantity": "10",
                "unit": "unit",
                "component": "battery_cell",
                "value_added_usd": "5000",
            }
        ],
        activity="manufacturing",
        country=cells_country,
        occurred_at=MAY,
    )
    if cells_maker is not maker:
        ledger.transfer(cells_maker, cells, maker)
    (pack,) = ledger.transform(
        maker,
        [(cells, "10")],
        [
            {
                "quantity": packs,
                "unit": "unit",
                "component": "battery_pack",
                "value_added_usd": "2000",
            }
        ],
        activity="assembly",
        occurred_at=MAY,
    )
    return pack


def verdict_of(claim_row: Claim, ruleset=None) -> dict:
    """The verdict against a fresh checkpoint, as the contract's dict."""
    checkpoint = checkpoints.publish_checkpoint()
    return evaluate_claim(claim_row, ruleset or current_ruleset(), checkpoint).as_dict()


def logged_attestations():
    """The log's attestations: the ledger's own entries (organisations, keys) are not imported."""
    from provenance.models import Entry

    return Entry.objects.exclude(type="ledger")
