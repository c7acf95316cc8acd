"""The proof bundle of a claim whose DAG has about 1,000 entries: export, size, verify.

Builds the claim of bench/verify_claim.py through the real write path
(about 1,000 entries and 10,000 edges upstream of one pack), verifies it
once, then measures in the same run, interleaved so that each pair sees the
same load:

1. export: `audit.bundle.build_bundle` and its bytes (what the API, the
   command and the admin's button send);
2. the bundle's size, per 1,000 entries (goal: under 2 MB);
3. verify: `cairn_core.bundle.verify(load(bytes))`, everything
   `cairn-verify` checks, the verdict's recomputation included;
4. the baseline: the bare Ed25519 checks of the same entries' signatures
   (parse each leaf input, build the PAE, verify), and the ratio of 3 to it
   (goal: at most 2).

    DATABASE_URL=postgres://... python bench/bundle.py [--runs 7] [--vin VIN]

Without DATABASE_URL it uses postgres://postgres@127.0.0.1:5432/cairn_bench_claim
(created if missing), the database bench/verify_claim.py builds in, so
`--vin` can name a claim either built.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.verify_claim import DEFAULT_URL, Builder, analyze, ms, setup  # noqa: E402


def export(vin: str) -> tuple[float, bytes]:
    from audit import bundle

    started = time.perf_counter()
    data = bundle.dumps(bundle.build_bundle(bundle.latest_verification(vin)))
    return time.perf_counter() - started, data


def verify(data: bytes) -> tuple[float, object]:
    from cairn_core import bundle

    started = time.perf_counter()
    result = bundle.verify(bundle.load(data))
    return time.perf_counter() - started, result


def bare_signature_checks(document: dict) -> float:
    """Ed25519 over each entry's PAE, with just the parsing that needs."""
    import nacl.signing

    from cairn_core import dsse

    keys = {key["keyid"]: nacl.signing.VerifyKey(base64.b64decode(key["public_key"])) for key in document["keys"]}
    started = time.perf_counter()
    for entry in document["entries"]:
        envelope = json.loads(entry["leaf_input"])["envelope"]
        message = dsse.pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))
        for signature in envelope["signatures"]:
            keys[signature["keyid"]].verify(message, base64.b64decode(signature["sig"]))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--vin", help="Measure a claim built by an earlier run instead.")
    args = parser.parse_args()
    setup(os.environ.get("DATABASE_URL") or DEFAULT_URL)
    from audit import engine
    from provenance import checkpoints

    vin = args.vin or Builder(secrets.token_hex(3)).build()
    checkpoints.publish_checkpoint()
    analyze()
    engine.verify_claim(vin, requested_by=None)
    export(vin)  # warm caches: the rule snapshot, the ledger key
    exports, verifies, bares = [], [], []
    for _ in range(args.runs):
        seconds, data = export(vin)
        exports.append(seconds)
        seconds, result = verify(data)
        verifies.append(seconds)
        bares.append(bare_signature_checks(json.loads(data)))
    ratios = [v / b for v, b in zip(verifies, bares, strict=True)]
    entries = result.entries
    print(f"claim {vin}: {entries} entries in its bundle, verified: {result.verified}")
    if not result.verified:
        print("\n".join(failure.line for failure in result.failures[:10]))
    print(f"bundle size    {len(data) / 1e6:7.2f} MB   {len(data) / entries * 1000 / 1e6:.2f} MB per 1,000 entries")
    print(f"  gzip-compressed {len(gzip.compress(data)) / entries * 1000 / 1e6:.2f} MB per 1,000 entries")
    print("  of which proofs", f"{sum(len(e['proof']) for e in json.loads(data)['entries']) / 1e6:.2f} MB")
    print(f"                 median     best   (of {args.runs} runs)")
    print(f"export         {ms(statistics.median(exports))}  {ms(min(exports))}")
    print(f"verify         {ms(statistics.median(verifies))}  {ms(min(verifies))}")
    print(f"bare checks    {ms(statistics.median(bares))}  {ms(min(bares))}")
    print(f"ratio          {statistics.median(ratios):7.2f}   {min(ratios):7.2f}      goal <= 2 (verify / bare checks)")


if __name__ == "__main__":
    main()
