"""The §45X verdict's own cost, in the pure core: 1,000 entries, 200 direct inputs.

Builds in memory, with no database, the evidence of one cell batch: 200
suppliers each create a batch (origin) and transfer it to the maker
(400 entries), the maker's transform consumes the 200 with their costs
(1), 200 supplier certifications (some for another year, some revoked,
some by a revoked key), 198 more transfers and one sale: about 1,000
signed entries. Then measures, interleaved, in the same run:

1. the verdict: `cairn_core.regimes.s45x.verdict.verdict_of` over the
   1,000 decoded statements (gather, compute, the verdict document);
2. the baseline: decoding the same 1,000 leaf inputs and checking their
   Ed25519 signatures (parse, PAE, verify), what fetching and checking the
   entries costs in the core before any rule is applied;
3. their ratio (goal: the verdict within 2x of the baseline; the server's
   bench of the whole service, fetching included, is the Django side's).

    python bench/macr_core.py [--runs 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from cairn_core import dsse  # noqa: E402
from cairn_core.entries import Key, decode_envelope  # noqa: E402
from cairn_core.payload import PAYLOAD_TYPE, PERJURY_STATEMENT, SCHEMA  # noqa: E402
from cairn_core.regimes.s45x import rules, verdict  # noqa: E402
from cairn_core.regimes.s45x.macr import Logged  # noqa: E402

INPUTS = 200
REGISTERED = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
AS_OF = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
CELL = "ohio-cells:cell-1"


def ruleset() -> rules.Rules:
    sourced = rules.Sourced("bench", False)
    return rules.build(
        (rules.ComponentClass("battery_cell", ("battery_cell",), sourced),),
        (rules.Threshold("battery_cell", dt.date(2026, 1, 1), None, rules.Decimal("60"), sourced),),
        tuple(
            rules.Designation(f"s{n:03d}", "x", "specified", "bench", dt.date(2025, 1, 1), None, sourced)
            for n in range(0, INPUTS, 17)
        ),
        rules.StatusDate("last_day_of_taxable_year", sourced),
        rules.ExistingContract(dt.date(2025, 6, 16), dt.date(2027, 1, 1), sourced),
    )


class Log:
    def __init__(self) -> None:
        self.leaves: list[str] = []
        self.keys: dict[str, Key] = {}
        self.signers: dict[str, tuple[str, Ed25519PrivateKey]] = {}
        self.heads: dict[str, str] = {}

    def signer(self, org: str) -> tuple[str, Ed25519PrivateKey]:
        if org not in self.signers:
            private = Ed25519PrivateKey.generate()
            public = dsse.raw_public_key(private)
            self.signers[org] = (dsse.keyid_for(public), private)
            revoked = AS_OF - dt.timedelta(days=30) if org.endswith("7") else None
            self.keys[self.signers[org][0]] = Key.of(public, org, REGISTERED, revoked)
        return self.signers[org]

    def add(self, issuer: str, body: dict) -> None:
        payload = {"schema": SCHEMA, "issuer": issuer, "issued_at": "2026-06-01T00:00:00Z", **body}
        envelope = dsse.sign(PAYLOAD_TYPE, json.dumps(payload).encode(), [self.signer(issuer)])
        leaf = {"envelope": envelope.to_stored(), "integrated_time": 1780000000 + len(self.leaves)}
        self.leaves.append(json.dumps(leaf, sort_keys=True, separators=(",", ":")))
        for name in [body.get("batch"), *(item["batch"] for item in body.get("outputs", []))]:
            if name:
                self.heads[name] = envelope.entry_hash


def build() -> Log:
    log = Log()
    batches = [f"s{n:03d}:lot-1" for n in range(INPUTS)]
    for batch in batches:
        supplier = batch.split(":")[0]
        output = {"batch": batch, "material": "m", "quantity": "100", "unit": "kg", "value_added_usd": "1"}
        log.add(
            supplier,
            {
                "type": "origin",
                "activity": "extraction",
                "site": {"name": "s", "country": "KR"},
                "outputs": [{**output, "minerals": {"lithium": "1"}}],
            },
        )
        log.add(supplier, {"type": "transfer", "batch": batch, "prev": log.heads[batch], "to": "ohio-cells"})
    inputs = [
        {"batch": b, "prev": log.heads[b], "quantity": "100", "direct_material_cost_usd": f"{n + 1}.25"}
        for n, b in enumerate(batches)
    ]
    output = {
        "batch": CELL,
        "material": "cell",
        "quantity": "1000",
        "unit": "unit",
        "value_added_usd": "1",
        "component": "battery_cell",
    }
    log.add(
        "ohio-cells",
        {
            "type": "transform",
            "activity": "manufacturing",
            "site": {"name": "o", "country": "US"},
            "inputs": inputs,
            "outputs": [output],
        },
    )
    for n, batch in enumerate(batches):
        certificate = {
            "type": "supplier_certification",
            "batch": batch,
            "prev": log.heads[batch],
            "taxpayer": "ohio-cells",
            "taxable_year": 2026 if n % 11 else 2025,
            "status": "certified",
            "supplier_tin": {"kind": "foreign", "value": f"KR-{n}"},
            "not_produced_by_pfe": True,
            "no_knowledge_of_prior_pfe": True,
            "direct_material_cost_usd": "1000",
            "non_pfe_direct_material_cost_usd": "900" if n % 5 == 0 else "1000",
            "penalties_of_perjury": PERJURY_STATEMENT,
        }
        log.add(batch.split(":")[0], certificate)
    for n in range(1000 - len(log.leaves) - 1):
        log.add(
            "ohio-cells",
            {
                "type": "transfer",
                "batch": CELL,
                "prev": log.heads[CELL],
                "to": "ohio-packs" if n % 2 == 0 else "ohio-cells",
            },
        )
    log.add(
        "ohio-cells",
        {
            "type": "sale",
            "batch": CELL,
            "prev": log.heads[CELL],
            "quantity": "1000",
            "sold_on": "2026-11-30",
            "buyer": {"name": "b", "country": "US"},
        },
    )
    return log


def decoded(log: Log) -> list[tuple[int, int, object]]:
    found = []
    for index, leaf in enumerate(log.leaves):
        row = json.loads(leaf)
        found.append((index, row["integrated_time"], decode_envelope(row["envelope"])))
    return found


def baseline(log: Log) -> float:
    """Decode every leaf and verify its signature: the entries fetched and checked, no rule applied."""
    started = time.perf_counter()
    for _index, _time, entry in decoded(log):
        for keyid, sig in entry.signatures:
            log.keys[keyid].verify_key.verify(entry.pae, sig)
    return time.perf_counter() - started


def the_verdict(log: Log, statements: list[Logged], ruleset_: rules.Rules) -> tuple[float, dict]:
    started = time.perf_counter()
    found = verdict.verdict_of(statements, CELL, 2026, ruleset_, log.keys, as_of=AS_OF, checkpoint="bench")
    return time.perf_counter() - started, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    log, ruleset_ = build(), ruleset()
    statements = [
        Logged(index, entry.entry_hash, moment, entry.payload, tuple(sorted(entry.keyids)))
        for index, moment, entry in decoded(log)
    ]
    verdicts, baselines = [], []
    for _run in range(options.runs):
        elapsed, found = the_verdict(log, statements, ruleset_)
        verdicts.append(elapsed)
        baselines.append(baseline(log))
    base, mine = statistics.median(baselines), statistics.median(verdicts)
    print(
        f"entries {len(log.leaves)}, direct inputs {len(found['inputs'])}, outcome {found['outcome']}, "
        f"MACR {found['macr']['percent_shown']}%"
    )
    print(f"baseline (decode + Ed25519 of {len(log.leaves)} entries): {base * 1000:.1f} ms (median of {options.runs})")
    print(f"verdict (gather, compute, document):                 {mine * 1000:.1f} ms (median of {options.runs})")
    print(f"ratio verdict / baseline: {mine / base:.2f} (goal: at most 2)")


if __name__ == "__main__":
    main()
