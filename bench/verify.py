"""Integrity check throughput: verify_ledger against the crypto ceiling, and
the Celery full check with one worker process and with two.

Loads a ledger through the real write path (origins, each followed by a
transfer co-signed by the receiver: three signatures per two entries) into a
fresh PostgreSQL database, then in the same run measures

1. `manage.py verify_ledger` (one core): entries per second;
2. the crypto ceiling: the same envelopes' Ed25519 signatures verified in a
   bare loop (PyNaCl, keys and PAE bytes prepared beforehand);
3. their ratio (goal: at least 0.6);
4. the nightly full check (`audit.check_full`, a chord over index ranges)
   with a Celery worker of 1 process and then 2 (goal: 2 at least 1.6 times
   faster; needs 2 cores and Redis).

    python bench/verify.py [--entries 20000] [--parts 8] [--rounds 3] [--broker redis://127.0.0.1:6379/12]
                           [--reuse]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, fresh_database, setup_django  # noqa: E402


def register_parties() -> list[tuple]:
    """The mine and the refiner, each with one registered key: (org, keyid, private key)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cairn_core import dsse
    from provenance.keys import register_key
    from provenance.organizations import create_organization

    parties = []
    for slug, roles in (("bench-mine", ["supplier"]), ("bench-refiner", ["supplier"])):
        org, _ = create_organization(slug=slug, name=slug, country="AU", roles=roles)
        private_key = Ed25519PrivateKey.generate()
        key, _ = register_key(organization=org, public_key_b64=dsse.b64encode(dsse.raw_public_key(private_key)))
        parties.append((org, key.keyid, private_key))
    return parties


def signed(payload: dict, signers: list) -> bytes:
    """The stored form of a DSSE envelope of `payload` signed by each (keyid, key)."""
    from cairn_core import dsse
    from cairn_core.payload import PAYLOAD_TYPE

    envelope = dsse.sign(PAYLOAD_TYPE, json.dumps(payload).encode(), signers)
    return json.dumps(envelope.to_stored()).encode()


def post_all(bodies: list[bytes], acting_org) -> list[str]:
    """Append every body; many client threads, so that the write path's
    sequencer commits whatever is waiting as one transaction (group commit)."""
    from django.db import connection

    from provenance.append import checks

    def post(body: bytes) -> str:
        try:
            return checks.append_attestation(body, acting_org=acting_org).entry.entry_hash
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(post, bodies))


def origin_payload(common: dict, batch: str) -> dict:
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


def load_ledger(count: int) -> None:
    """`count` entries: origins, then a transfer of each co-signed by the receiver."""
    from django.utils import timezone

    from cairn_core.payload import SCHEMA

    (mine, mine_keyid, mine_key), (refiner, refiner_keyid, refiner_key) = register_parties()
    issued_at = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    common = {"schema": SCHEMA, "issuer": mine.slug, "issued_at": issued_at}
    started = time.perf_counter()
    batches = [f"{mine.slug}:ore-{number}" for number in range(count // 2)]
    origins = [signed(origin_payload(common, batch), [(mine_keyid, mine_key)]) for batch in batches]
    heads = post_all(origins, mine)
    print(f"loaded {len(heads)} origins", file=sys.stderr)
    transfers = [
        signed(
            {**common, "type": "transfer", "batch": batch, "prev": head, "to": refiner.slug},
            [(mine_keyid, mine_key), (refiner_keyid, refiner_key)],
        )
        for batch, head in zip(batches, heads, strict=True)
    ]
    post_all(transfers, mine)
    print(f"loaded {count} entries in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def time_verify_ledger() -> tuple[float, int]:
    from django.core.management import call_command

    from provenance import checkpoints, tlog

    checkpoints.publish_checkpoint()
    size = tlog.current_size()
    started = time.perf_counter()
    call_command("verify_ledger", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())
    return time.perf_counter() - started, size


def crypto_ceiling() -> tuple[float, int]:
    """Seconds to verify every signature of every entry in a bare loop."""
    import base64

    import nacl.signing

    from cairn_core import dsse
    from provenance.models import Entry, SigningKey

    keys = {key.keyid: nacl.signing.VerifyKey(bytes(key.public_key)) for key in SigningKey.objects.all()}
    work = []
    for text in Entry.objects.order_by("index").values_list("envelope", flat=True).iterator():
        envelope = json.loads(text)
        message = dsse.pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))
        for item in envelope["signatures"]:
            work.append((keys[item["keyid"]], message, base64.b64decode(item["sig"])))
    started = time.perf_counter()
    for verify_key, message, signature in work:
        verify_key.verify(message, signature)
    return time.perf_counter() - started, len(work)


def time_full_check(database_url: str, broker: str, processes: int, parts: int) -> float:
    """Seconds from sending audit.check_full to its chord closing the run."""
    from audit.models import IntegrityCheckRun
    from audit.tasks import check_full

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": broker,
    }
    worker = subprocess.Popen(
        [
            str(Path(PYTHON).with_name("celery")),
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            f"--concurrency={processes}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )

    def full_check() -> float:
        started = time.perf_counter()
        run_id = check_full.apply_async(kwargs={"parts": parts}).get(timeout=300)
        while not IntegrityCheckRun.objects.filter(id=run_id, finished_at__isnull=False).exists():
            time.sleep(0.02)
        return time.perf_counter() - started

    try:
        full_check()  # warm-up: the pool's processes connect and load keys
        return min(full_check() for _ in range(2))
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20000)
    parser.add_argument("--parts", type=int, default=8, help="index ranges of the full check")
    parser.add_argument("--broker", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep the ledger of the last run")
    args = parser.parse_args()

    database_url = (
        "postgres://postgres@127.0.0.1:5432/cairn_bench_verify" if args.reuse else fresh_database("cairn_bench_verify")
    )
    os.environ["CELERY_BROKER_URL"] = os.environ["CELERY_RESULT_BACKEND"] = args.broker
    setup_django(database_url)
    if not args.reuse:
        load_ledger(args.entries)

    # Interleaved rounds, best of each: the host's speed drifts, and the
    # ratio compares the two under the same conditions.
    seconds = ceiling_seconds = float("inf")
    for _ in range(args.rounds):
        elapsed, size = time_verify_ledger()
        seconds = min(seconds, elapsed)
        elapsed, signatures = crypto_ceiling()
        ceiling_seconds = min(ceiling_seconds, elapsed)
    rate, ceiling = size / seconds, size / ceiling_seconds
    print(f"verify_ledger:      {rate:10,.0f} entries/s  ({size} entries, {seconds:.2f} s)")
    print(
        f"crypto ceiling:     {ceiling:10,.0f} entries/s  ({signatures} Ed25519 verifications "
        f"in {ceiling_seconds:.2f} s, {signatures / ceiling_seconds:,.0f}/s)"
    )
    print(f"ratio:              {rate / ceiling:10.2f}  (goal >= 0.6)")

    one = time_full_check(database_url, args.broker, 1, args.parts)
    two = time_full_check(database_url, args.broker, 2, args.parts)
    print(f"full check, 1 proc: {one:10.2f} s  ({size / one:,.0f} entries/s)")
    print(f"full check, 2 proc: {two:10.2f} s  ({size / two:,.0f} entries/s)")
    print(f"speed-up:           {one / two:10.2f}  (goal >= 1.6 on 2 cores; {os.cpu_count()} here)")


if __name__ == "__main__":
    main()
