"""The integrity sweep's background CPU on a large log (PostgreSQL).

Builds a log of `--entries` origin attestations, then in the same run measures

1. one sweep (`audit.sweep.sweep`: every leaf recomputed against the latest
   signed checkpoint, every range's rows hashed against its seal, every
   batch's moving columns, the tail in full) with the rolling full check
   off, and with it on (CAIRN_SWEEP_ROLLING_ENTRIES, 16,384 by default):
   the CPU seconds of this process and of its PostgreSQL backend;
2. the baseline: the same rows read by a bare SELECT and SHA-256 over
   their bytes, nothing else (the floor of reading every row once);
3. the share of one core this costs when the sweep runs every 240 s (the
   default schedule) and the ratio to the baseline.

The entries are synthetic but valid: each is a real Ed25519-signed DSSE
envelope of an origin statement (one key of one mine), with the rows the
write path stores for it (entry, signature record, batch, batch link,
agreement links, Merkle nodes), written by COPY rather than through the
API (1,000,000 appends through the API take too long for a benchmark);
the first 4,096 are appended through the real write path and checked in
full, and the rest copy their shape. The ranges are sealed directly from
their rows, as the rolling full check does once each has passed (a first
full check of 1M entries takes about 200 s at the full check's rate).

    python bench/sweep.py [--entries 1000000] [--rounds 3]

Goal: at most 10% of one core over the 5-minute window at 1,000,000 entries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, setup_django  # noqa: E402

TEMPLATE = 4096
INTERVAL = 240.0  # the sweep's default schedule (audit/schedule.py)


def origin(common: dict, batch: str) -> dict:
    output = {
        "batch": batch,
        "material": "spodumene",
        "quantity": "1000",
        "unit": "kg",
        "minerals": {"lithium": "60"},
        "value_added_usd": "1200",
    }
    site = {"name": "Greenbushes", "country": "AU"}
    return {**common, "type": "origin", "activity": "extraction", "site": site, "outputs": [output]}


def load_template(mine, keyid: str, key) -> dict:
    """TEMPLATE origins through the real write path; one of them as the pattern of the rest."""
    from cairn_core import dsse
    from cairn_core.payload import PAYLOAD_TYPE, SCHEMA
    from provenance.append import checks

    issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    common = {"schema": SCHEMA, "issuer": mine.slug, "issued_at": issued_at}
    bodies = [
        json.dumps(
            dsse.sign(
                PAYLOAD_TYPE, json.dumps(origin(common, f"{mine.slug}:t{n}")).encode(), [(keyid, key)]
            ).to_stored()
        ).encode()
        for n in range(TEMPLATE)
    ]
    for start in range(0, len(bodies), 500):
        checks.append_attestations(bodies[start : start + 500], acting_org=mine)
    return common


def copy_rows(count: int, start: int, common: dict, keyid: str, key) -> None:
    """Entries [start, count): each origin's rows, shaped as the template's, by COPY."""
    from django.db import connection

    from cairn_core import dsse, merkle
    from cairn_core.entries import stored_leaf_input
    from cairn_core.payload import PAYLOAD_TYPE
    from provenance.models import Batch, Entry, EntryAgreementLink, LogState, MerkleNode

    pattern = Entry.objects.filter(type="origin").order_by("index").first()
    batch = Batch.objects.get(created_by=pattern)
    links = list(EntryAgreementLink.objects.filter(entry=pattern).values("agreement_id", "mineral", "country"))
    state = LogState.objects.get(id=1)
    frontier = [bytes.fromhex(item) for item in state.frontier]
    issued = pattern.issued_at.isoformat()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        entries = raw.copy(
            "COPY provenance_entry (index, entry_hash, envelope, integrated_time, leaf_hash, type, issuer_id,"
            " issued_at, occurred_at, statement) FROM STDIN"
        )
        nodes: list[tuple[int, str]] = []
        rows: dict[str, list[tuple]] = {"sig": [], "batch": [], "link": [], "agreement": []}
        with entries as copy:
            for index in range(start, count):
                batch_id = f"{pattern.issuer_id}:s{index}"
                statement = origin(common, batch_id)
                envelope = dsse.sign(PAYLOAD_TYPE, json.dumps(statement).encode(), [(keyid, key)])
                stored = envelope.stored_json()
                leaf = merkle.leaf_hash(stored_leaf_input(stored, pattern.integrated_time))
                frontier, completed = merkle.append_to_frontier(frontier, index, leaf)
                nodes += [(MerkleNode.node_id(level, position), node.hex()) for level, position, node in completed]
                entry_hash = envelope.entry_hash
                copy.write_row(
                    (index, entry_hash, stored, pattern.integrated_time, leaf.hex(), "origin", pattern.issuer_id,
                     issued, issued, json.dumps(statement))
                )  # fmt: skip
                rows["sig"].append((index, keyid, pattern.issuer_id, True))
                rows["batch"].append(
                    (batch_id, batch.owner_id, batch.material, batch.unit, batch.quantity, 0, batch.custodian_id,
                     entry_hash, index, batch.site_country.code, json.dumps(batch.minerals), json.dumps(batch.carries),
                     batch.value_added_usd, batch.component)
                )  # fmt: skip
                rows["link"].append((index, batch_id, "created", "", None, None, pattern.issuer_id))
                rows["agreement"] += [(index, link["agreement_id"], link["mineral"], link["country"]) for link in links]
                if index % 50_000 == 0:
                    print(f"\rsigned {index}/{count}", end="", file=sys.stderr)
        _copy_derived(raw, rows, pattern.agreement_links.values_list("linked_at", "rules_version").first())
        with raw.copy("COPY provenance_merklenode (id, hash) FROM STDIN") as copy:
            for row in nodes:
                copy.write_row(row)
        LogState.objects.filter(id=1).update(size=count, frontier=[node.hex() for node in frontier])
        for table in ("provenance_entry", "provenance_batch", "provenance_batchlink", "provenance_merklenode"):
            cursor.execute(f"ANALYZE {table}")
    print(f"\rcopied {count - start} entries", file=sys.stderr)


def _copy_derived(raw, rows: dict[str, list[tuple]], linked_at: tuple) -> None:
    """The signature records, batches, batch links and agreement links, one COPY each."""
    from provenance.models import Batch, BatchLink, EntryAgreementLink, EntrySignature

    copies = {
        "sig": f"COPY {EntrySignature._meta.db_table} (entry_id, key_id, organization_id, is_issuer) FROM STDIN",
        "batch": f"COPY {Batch._meta.db_table} (id, owner_id, material, unit, quantity, consumed, custodian_id,"
        " head, created_by_id, site_country, minerals, carries, value_added_usd, component) FROM STDIN",
        "link": f"COPY {BatchLink._meta.db_table} (entry_id, batch_id, role, prev, quantity, custodian_before_id,"
        " custodian_after_id) FROM STDIN",
        "agreement": f"COPY {EntryAgreementLink._meta.db_table} (entry_id, agreement_id, mineral, country,"
        " linked_at, rules_version) FROM STDIN",
    }
    for name, statement in copies.items():
        with raw.copy(statement) as copy:
            for row in rows[name]:
                copy.write_row((*row, *linked_at) if name == "agreement" else row)


def backend_cpu() -> float:
    """CPU seconds of this connection's PostgreSQL backend (same host: /proc)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + backend_cpu()


def measure(run) -> tuple[float, float, object]:
    """(CPU seconds of this process and its backend, wall seconds, result)."""
    cpu0, wall0 = cpu(), time.perf_counter()
    result = run()
    return cpu() - cpu0, time.perf_counter() - wall0, result


def baseline() -> int:
    """Every entry's stored bytes read and hashed once, nothing else."""
    from django.db import connection

    hashed = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT envelope, statement::text FROM provenance_entry ORDER BY index")
        for envelope, statement in cursor:
            hashlib.sha256(envelope.encode()).digest()
            hashlib.sha256(statement.encode()).digest()
            hashed += 1
    return hashed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--keep", action="store_true", help="reuse the log BENCH_DATABASE_URL holds if it is as large, else fill it"
    )
    args = parser.parse_args()
    setup_django(fresh_database("cairn_bench_sweep"))
    if not (args.keep and _filled(args.entries)):
        fill(args.entries)
    seal_all()
    measure_rounds(args.rounds)


def _filled(entries: int) -> bool:
    from provenance.models import Checkpoint

    latest = Checkpoint.objects.order_by("-tree_size").first()
    return latest is not None and latest.tree_size >= entries


def fill(entries: int) -> None:
    """A log of `entries` origins: TEMPLATE through the write path, the rest by COPY."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audit import integrity, sweep
    from cairn_core import dsse
    from provenance import checkpoints
    from provenance.keys import register_key
    from provenance.organizations import create_organization

    mine, _ = create_organization(slug="bench-mine", name="Bench mine", country="AU", roles=["supplier"])
    key = Ed25519PrivateKey.generate()
    registered, _ = register_key(organization=mine, public_key_b64=dsse.b64encode(dsse.raw_public_key(key)))
    started = time.perf_counter()
    common = load_template(mine, registered.keyid, key)
    template_end = (checkpoints.publish_checkpoint().tree_size // sweep.WIDTH) * sweep.WIDTH
    assert integrity.check_range(0, template_end) == [], "the template entries must check clean"
    copy_rows(entries, checkpoints.publish_checkpoint().tree_size, common, registered.keyid, key)
    latest = checkpoints.publish_checkpoint()
    print(f"log of {latest.tree_size} entries in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def seal_all() -> None:
    """Every whole range sealed from its rows, as the rolling full check does once each has passed."""
    from audit import sweep
    from audit.models import RangeSeal
    from provenance.models import Checkpoint

    latest = Checkpoint.objects.order_by("-tree_size").first()
    RangeSeal.objects.all().delete()
    sealed_at = time.perf_counter()
    for start in range(0, latest.tree_size // sweep.WIDTH * sweep.WIDTH, sweep.WIDTH):
        state = sweep.range_state(start, start + sweep.WIDTH)
        RangeSeal.objects.create(
            start=start,
            end=start + sweep.WIDTH,
            digest=state.digest,
            moving=state.moving,
            checked_at=latest.published_at,
        )
    print(f"sealed in {time.perf_counter() - sealed_at:.0f} s", file=sys.stderr)


def measure_rounds(rounds: int) -> None:
    from django.conf import settings

    from audit import sweep

    for round_number in range(1, rounds + 1):
        base_cpu, base_wall, hashed = measure(baseline)
        settings.CAIRN_SWEEP_ROLLING_ENTRIES = 0
        cheap_cpu, cheap_wall, cheap = measure(sweep.sweep)
        settings.CAIRN_SWEEP_ROLLING_ENTRIES = 16_384
        full_cpu, full_wall, full = measure(sweep.sweep)
        assert not cheap.problems and not full.problems, (cheap.problems[:3], full.problems[:3])
        assert not cheap.rechecked and not full.rechecked, "a sealed range must match its seal"
        print(
            f"round {round_number}: {hashed} entries; baseline {base_cpu:.1f} s CPU ({base_wall:.1f} s wall); "
            f"sweep without rolling {cheap_cpu:.1f} s CPU ({cheap_wall:.1f} s wall), "
            f"with 16,384 rolling {full_cpu:.1f} s CPU ({full_wall:.1f} s wall); "
            f"every {INTERVAL:.0f} s: {100 * full_cpu / INTERVAL:.1f}% of one core "
            f"({100 * cheap_cpu / INTERVAL:.1f}% without rolling); ratio to baseline {full_cpu / base_cpu:.2f}"
        )


if __name__ == "__main__":
    main()
