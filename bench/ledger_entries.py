"""What the ledger's own entries (contract §12) cost the integrity checks.

Loads, through the real write paths, into a fresh PostgreSQL database:

    --organizations organisations, one key each, logged first
    --entries attestations (origins, each followed by a transfer co-signed by
      the receiver, as bench/verify.py loads them), in batches of 200
    --revocations key revocations and --rule-changes rule changes
    --claims small claims (origin, pack, claim), each verified
      --verdicts-per-claim times: a verdict entry each

then measures, in the same run (interleaved rounds, best of each):

1. `manage.py verify_ledger`, the whole command (one core);
2. the ledger entries' share of it: their own entries checked (the index
   ranges they occupy, by `integrity.check_range`) plus the tables rebuilt
   from them and compared (`ledger_views.check_ledger_tables`);
3. that share as a ratio to the rest of the command: the time the ledger
   entries add (goal: under 10%).

With --full-check it then times the nightly full check (`audit.check_full`:
every entry re-verified, batches, claims, links, keys, organisations, rules
and verdicts rebuilt from the entries and compared) with a Celery worker of
2 processes, the rebuild the checks rely on (goal at 1,000,000 entries:
within the 5-minute detection window on 2 cores).

    python bench/ledger_entries.py [--entries 20000] [--rounds 3]
    python bench/ledger_entries.py --entries 1000000 --rounds 1 --full-check --rule-changes 2

It also times, after the checks, a logged rule change of an agreement no
site in the log is party to (Japan's: the load's sites are Australian), one
of the agreement every origin relies on (Australia's), and relinking every
entry, what each rule change cost before it relinked only the entries of
the countries it can move.

Needs PostgreSQL on 127.0.0.1:5432 (and Redis for --full-check).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, setup_django  # noqa: E402
from bench.verify import origin_payload  # noqa: E402

BATCH = 200


# --- loading ------------------------------------------------------------------


class Party:
    """An organisation with one registered key, signing as a client would."""

    def __init__(self, slug: str, roles: list[str], country: str = "AU") -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from cairn_core import dsse
        from provenance.keys import register_key
        from provenance.organizations import create_organization

        self.org, _ = create_organization(slug=slug, name=slug, country=country, roles=roles)
        self.private_key = Ed25519PrivateKey.generate()
        public = dsse.b64encode(dsse.raw_public_key(self.private_key))
        self.keyid = register_key(organization=self.org, public_key_b64=public)[0].keyid

    @property
    def slug(self) -> str:
        return self.org.slug


def signed(payload: dict, *parties: Party) -> bytes:
    """The body of a DSSE envelope of `payload` signed by each party."""
    from cairn_core import dsse
    from cairn_core.payload import PAYLOAD_TYPE

    signers = [(party.keyid, party.private_key) for party in parties]
    envelope = dsse.sign(PAYLOAD_TYPE, json.dumps(payload).encode(), signers)
    return json.dumps(envelope.to_stored()).encode()


def append(bodies: list[bytes], acting: Party) -> list[str]:
    """Append every body in batches of BATCH, two batches at a time (the
    group commit joins them); the entry hash of each, in order."""
    from django.db import connection

    from provenance.append import checks

    def post(chunk: list[bytes]) -> list[str]:
        try:
            outcomes = checks.append_attestations(chunk, acting_org=acting.org)
        finally:
            connection.close()
        refused = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        if refused:
            raise RuntimeError(f"{len(refused)} refused, the first: {refused[0]}")
        return [outcome.entry.entry_hash for outcome in outcomes]

    chunks = [bodies[start : start + BATCH] for start in range(0, len(bodies), BATCH)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [entry_hash for hashes in pool.map(post, chunks) for entry_hash in hashes]


def issued_at() -> str:
    from django.utils import timezone

    return timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def common(party: Party) -> dict:
    from cairn_core.payload import SCHEMA

    return {"schema": SCHEMA, "issuer": party.slug, "issued_at": issued_at()}


def load_attestations(count: int, mine: Party, refiner: Party) -> None:
    """`count` entries: origins, then a transfer of each co-signed by the receiver."""
    started = time.perf_counter()
    batches = [f"{mine.slug}:ore-{number}" for number in range(count // 2)]
    heads = append([signed(origin_payload(common(mine), batch), mine) for batch in batches], mine)
    note(f"loaded {len(heads)} origins in {time.perf_counter() - started:.0f} s")
    transfers = [
        signed({**common(mine), "type": "transfer", "batch": batch, "prev": head, "to": refiner.slug}, mine, refiner)
        for batch, head in zip(batches, heads, strict=True)
    ]
    append(transfers, mine)
    note(f"loaded {count} attestations in {time.perf_counter() - started:.0f} s")


def change_rules(count: int) -> None:
    """`count` logged rule changes: an agreement's next review moved a day each time."""
    import datetime as dt

    from agreements.models import TradeAgreement
    from provenance.rule_changes import rule_change

    for number in range(count):
        with rule_change(reason=f"bench review {number}", source="https://example.org/bench", by="bench"):
            agreement = TradeAgreement.objects.get(slug="us-japan-cma")
            agreement.next_review = dt.date(2027, 1, 1) + dt.timedelta(days=number)
            agreement.save()


def time_rule_changes() -> tuple[float, float, float]:
    """Seconds of a logged change of Japan's agreement, of Australia's, and of `relink()`."""
    import datetime as dt

    from agreements.models import TradeAgreement
    from provenance.linking import relink
    from provenance.rule_changes import rule_change

    def change(slug: str) -> float:
        started = time.perf_counter()
        with rule_change(reason=f"bench: {slug} reviewed", source="https://example.org/bench", by="bench"):
            TradeAgreement.objects.filter(slug=slug).update(ends=dt.date(2099, 12, 31))
        return time.perf_counter() - started

    elsewhere, everywhere = change("us-japan-cma"), change("us-au-fta")
    started = time.perf_counter()
    relink()
    return elsewhere, everywhere, time.perf_counter() - started


def claims_verified(count: int, per_claim: int, mine: Party) -> None:
    """`count` small claims (origin, pack, claim), each verified `per_claim` times."""
    from audit.engine import verify_claim
    from provenance import checkpoints

    maker = Party("bench-ledger-cells", ["manufacturer"], "US")
    vins = []
    for number in range(count):
        batch = f"{mine.slug}:claim-ore-{number}"
        (ore_head,) = append([signed(origin_payload(common(mine), batch), mine)], mine)
        (transfer_head,) = append(
            [signed({**common(mine), "type": "transfer", "batch": batch, "prev": ore_head, "to": maker.slug}, mine)],
            mine,
        )
        (pack_head,) = append([signed(pack_of(maker, batch, transfer_head, number), maker)], maker)
        vin = f"5YJ3E1EA0PF{number:06d}"
        append([signed(claim_of(maker, f"{maker.slug}:pack-{number}", pack_head, vin), maker)], maker)
        vins.append(vin)
    checkpoints.publish_checkpoint()
    for _ in range(per_claim):
        for vin in vins:
            verify_claim(vin, requested_by=None)


def pack_of(maker: Party, batch: str, head: str, number: int) -> dict:
    output = {
        "batch": f"{maker.slug}:pack-{number}",
        "material": "battery pack",
        "quantity": "1",
        "unit": "kg",
        "value_added_usd": "1500",
        "component": "battery_pack",
    }
    return {
        **common(maker),
        "type": "transform",
        "activity": "assembly",
        "site": {"name": "Pack plant", "country": "US"},
        "inputs": [{"batch": batch, "prev": head, "quantity": "1000"}],
        "outputs": [output],
    }


def claim_of(maker: Party, pack: str, head: str, vin: str) -> dict:
    return {
        **common(maker),
        "type": "claim",
        "batch": pack,
        "prev": head,
        "quantity": "1",
        "vin": vin,
        "acquired": "2024-06-01",
        "placed_in_service": "2024-06-15",
        "final_assembly": {"name": "Assembly plant", "country": "US"},
    }


def load(args: argparse.Namespace) -> None:
    from provenance.keys import revoke_key

    started = time.perf_counter()
    mine = Party("bench-ledger-mine", ["supplier"])
    refiner = Party("bench-ledger-refiner", ["supplier"])
    others = [Party(f"bench-ledger-org-{number}", ["supplier"]) for number in range(args.organizations)]
    note(f"logged {len(others) + 2} organisations and their keys in {time.perf_counter() - started:.0f} s")
    load_attestations(args.entries, mine, refiner)
    for party in others[: args.revocations]:
        revoke_key(organization=party.org, keyid=party.keyid)
    change_rules(args.rule_changes)
    claims_verified(args.claims, args.verdicts_per_claim, mine)
    note(f"loaded everything in {time.perf_counter() - started:.0f} s")


# --- measuring ----------------------------------------------------------------


def ledger_ranges() -> list[tuple[int, int]]:
    """The index ranges [start, end) that the ledger's own entries occupy."""
    from provenance.models import Entry, EntryType

    ranges: list[tuple[int, int]] = []
    for index in Entry.objects.filter(type=EntryType.LEDGER).order_by("index").values_list("index", flat=True):
        if ranges and ranges[-1][1] == index:
            ranges[-1] = (ranges[-1][0], index + 1)
        else:
            ranges.append((index, index + 1))
    return ranges


def time_verify_ledger() -> float:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("verify_ledger", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())
    return time.perf_counter() - started


def time_ledger_share(ranges: list[tuple[int, int]]) -> tuple[float, float]:
    """Seconds to check the ledger entries' own ranges, and to rebuild and compare their tables."""
    from audit import integrity, ledger_views

    started = time.perf_counter()
    for start, end in ranges:
        problems = integrity.check_range(start, end)
        assert not problems, problems[:3]
    entries = time.perf_counter() - started
    started = time.perf_counter()
    problems = ledger_views.check_ledger_tables()
    assert not problems, problems[:3]
    return entries, time.perf_counter() - started


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20000, help="attestations")
    parser.add_argument("--organizations", type=int, default=200)
    parser.add_argument("--revocations", type=int, default=50)
    parser.add_argument("--rule-changes", type=int, default=20)
    parser.add_argument("--claims", type=int, default=50)
    parser.add_argument("--verdicts-per-claim", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--full-check", action="store_true", help="also time audit.check_full on 2 processes")
    parser.add_argument("--parts", type=int, default=16, help="index ranges of the full check")
    parser.add_argument("--broker", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12"))
    args = parser.parse_args()

    database_url = fresh_database("cairn_bench_ledger_entries")
    os.environ["CELERY_BROKER_URL"] = os.environ["CELERY_RESULT_BACKEND"] = args.broker
    setup_django(database_url)
    load(args)

    from provenance import checkpoints, tlog

    checkpoints.publish_checkpoint()
    size, ranges = tlog.current_size(), ledger_ranges()
    ledger_count = sum(end - start for start, end in ranges)
    whole = own = tables = float("inf")
    for _ in range(args.rounds):
        whole = min(whole, time_verify_ledger())
        entries_seconds, tables_seconds = time_ledger_share(ranges)
        own, tables = min(own, entries_seconds), min(tables, tables_seconds)
    share = own + tables
    rest = whole - share
    print(f"log:                 {size:10,} entries ({ledger_count:,} ledger entries in {len(ranges)} runs)")
    print(f"verify_ledger:       {whole:10.2f} s  ({size / whole:,.0f} entries/s)")
    print(f"  ledger entries:    {own:10.2f} s  ({ledger_count / own:,.0f} entries/s)")
    print(f"  tables rebuilt:    {tables:10.2f} s  (keys, organisations, rules, verdicts compared)")
    print(f"  the rest:          {rest:10.2f} s  (attestations, tree, checkpoints)")
    print(f"added by the ledger: {share / rest:10.1%}  (goal < 10%)")

    elsewhere, everywhere, everything = time_rule_changes()
    print(f"rule change, JP:     {elsewhere:10.2f} s  (no site in the log is a party; {elsewhere / everything:.3f}x)")
    print(f"rule change, AU:     {everywhere:10.2f} s  (every origin relinked; {everywhere / everything:.2f}x)")
    print(f"relink every entry:  {everything:10.2f} s  (what every rule change cost before)")

    if args.full_check:
        from bench.verify import time_full_check

        two = time_full_check(database_url, args.broker, 2, args.parts)
        print(f"full check, 2 proc:  {two:10.2f} s  ({size / two:,.0f} entries/s; goal < 300 s at 1,000,000)")
        print(f"  vs verify_ledger:  {whole / two:10.2f}x  (one process, same run)")


if __name__ == "__main__":
    main()
