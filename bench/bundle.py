"""The proof bundle of a claim whose DAG has about 1,000 entries: export, size, verify.

Builds the claim of bench/verify_claim.py through the real write path
(about 1,000 entries and 10,000 edges upstream of one pack), verifies it
once, then measures in the same run, interleaved so that each pair sees the
same load:

1. export: `audit.bundle.build_bundle` and its bytes (what the API, the
   command and the admin's button send);
2. the bundle's size, per 1,000 entries (goal: under 2 MB);
3. verify: `cairn_core.regimes.s30d.bundle.verify(load(bytes))`, everything
   `cairn-verify` checks, the verdict's recomputation included, in one
   process and as `cairn-verify` runs it on two cores (the signatures in a
   forked child);
4. verify with pinned keys: as `cairn-verify BUNDLE --log-key VKEY
   --witness VKEY --witness VKEY` runs it (two cores), the bundle carrying
   two witness cosignatures made here by two witness keys of the bench;
5. the baseline: the bare Ed25519 checks of the same entries' signatures
   (parse each leaf input, build the PAE, verify), and the ratios of 3 and
   4 to it (goal: at most 2).

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


def verify(data: bytes, processes: int = 1, pins: dict | None = None) -> tuple[float, object]:
    from cairn_core import bundle
    from cairn_core.regimes.s30d import bundle as bundle_30d

    started = time.perf_counter()
    result = bundle_30d.verify(bundle.load(data), processes=processes, **(pins or {}))
    return time.perf_counter() - started, result


WITNESSES = ("bench.example/witness-a", "bench.example/witness-b")


def cosigned(data: bytes) -> tuple[bytes, dict]:
    """The bundle with two witnesses' cosignatures, and the pins `cairn-verify` would be given.

    The log key pinned is the bench ledger's own (what GET /log/key serves).
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cairn_core import cosignature, signed_note

    document = json.loads(data)
    body, _signatures = signed_note.split_note(document["checkpoint"])
    keys = {name: Ed25519PrivateKey.generate() for name in WITNESSES}
    document["cosignatures"] = [cosignature.cosign(body, name, key) for name, key in keys.items()]
    witnesses = [
        cosignature.parse_vkey(cosignature.vkey(name, cosignature.public_key_of(key))) for name, key in keys.items()
    ]
    pins = {"log_key": signed_note.parse_verifier(document["log"]["verifier"]), "witnesses": witnesses}
    return json.dumps(document).encode(), pins


def bare_signature_checks(document: dict) -> float:
    """Ed25519 over each entry's PAE, with just the parsing that needs."""
    import nacl.signing

    from cairn_core import dsse

    keys = {key["keyid"]: nacl.signing.VerifyKey(base64.b64decode(key["public_key"])) for key in document["keys"]}
    # The ledger entries (contract §12) the bundle carries are signed by the log key.
    log_key = base64.b64decode(document["log"]["public_key"])
    keys[dsse.keyid_for(log_key)] = nacl.signing.VerifyKey(log_key)
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
    exports, verifies, forked, pinned, bares = [], [], [], [], []
    for _ in range(args.runs):
        seconds, data = export(vin)
        exports.append(seconds)
        seconds, result = verify(data)
        verifies.append(seconds)
        seconds, result = verify(data, processes=2)
        forked.append(seconds)
        witnessed, pins = cosigned(data)
        seconds, trusted = verify(witnessed, processes=2, pins=pins)
        pinned.append(seconds)
        bares.append(bare_signature_checks(json.loads(data)))
    report(args.runs, vin, data, result, trusted, exports, verifies, forked, pinned, bares)


def report(runs, vin, data, result, trusted, exports, verifies, forked, pinned, bares) -> None:
    ratios = [v / b for v, b in zip(verifies, bares, strict=True)]
    forked_ratios = [v / b for v, b in zip(forked, bares, strict=True)]
    pinned_ratios = [v / b for v, b in zip(pinned, bares, strict=True)]
    entries = result.entries
    print(f"claim {vin}: {entries} entries in its bundle, every check passed: {result.passed}")
    print(f"  with the log key and two witnesses pinned: status {trusted.status} (0: trusted)")
    if not result.passed:
        print("\n".join(failure.line for failure in result.failures[:10]))
    print(f"bundle size    {len(data) / 1e6:7.2f} MB   {len(data) / entries * 1000 / 1e6:.2f} MB per 1,000 entries")
    print(f"  gzip-compressed {len(gzip.compress(data)) / entries * 1000 / 1e6:.2f} MB per 1,000 entries")
    print("  of which proofs", f"{sum(len(e['proof']) for e in json.loads(data)['entries']) / 1e6:.2f} MB")
    print(f"                 median     best   (of {runs} runs)")
    print(f"export         {ms(statistics.median(exports))}  {ms(min(exports))}")
    print(f"verify         {ms(statistics.median(verifies))}  {ms(min(verifies))}   one process")
    print(f"verify, 2 proc {ms(statistics.median(forked))}  {ms(min(forked))}   as cairn-verify runs on 2 cores")
    print(f"verify, pinned {ms(statistics.median(pinned))}  {ms(min(pinned))}   2 proc, --log-key, 2 --witness")
    print(f"bare checks    {ms(statistics.median(bares))}  {ms(min(bares))}")
    print(f"ratio          {statistics.median(ratios):7.2f}   {min(ratios):7.2f}      one process / bare checks")
    print(
        f"ratio, 2 proc  {statistics.median(forked_ratios):7.2f}   {min(forked_ratios):7.2f}      goal <= 2 "
        "(cairn-verify / bare checks)"
    )
    print(
        f"ratio, pinned  {statistics.median(pinned_ratios):7.2f}   {min(pinned_ratios):7.2f}      goal <= 2 "
        "(cairn-verify with pinned keys and two witnesses / bare checks)"
    )


if __name__ == "__main__":
    main()
