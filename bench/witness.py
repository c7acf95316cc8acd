"""From a checkpoint's publication to the witnesses' quorum, with two local witnesses.

Starts two of Cairn's own witnesses (`cairn witness serve`, each its own
process and state directory) on 127.0.0.1, then, round after round,
appends a few entries, publishes a checkpoint and gathers both
cosignatures (`provenance.witnesses.gather`, what `publish_checkpoint` and
a verification do; the Celery task makes the same exchange per witness).
Prints the publication alone and publication-to-quorum, p50 and p90, and
their ratio measured in the same run.

    python bench/witness.py [--rounds 40] [--entries 10]

Goal: publication to quorum under 2 s at p50.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, free_port, fresh_database, setup_django  # noqa: E402


def start_witnesses(home: Path, log_verifier: str) -> tuple[list[subprocess.Popen[bytes]], list[dict[str, str]]]:
    from cairn_core import cosignature
    from cairn_core.client import keys as keyfiles

    cairn = str(Path(PYTHON).with_name("cairn"))
    processes, config = [], []
    for n in (1, 2):
        name, key_path, port = f"bench.cairn.localhost/w{n}", home / f"w{n}.pem", free_port()
        keyfiles.write(key_path, keyfiles.generate())
        argv = [cairn, "witness", "serve", "--key", str(key_path), "--log", log_verifier]
        argv += ["--state", str(home / f"w{n}"), "--listen", f"127.0.0.1:{port}", "--init", "--name", name]
        processes.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        vkey = cosignature.vkey(name, cosignature.public_key_of(keyfiles.load(key_path)))
        config.append({"url": f"http://127.0.0.1:{port}", "vkey": vkey})
    return processes, config


def append_leaves(count: int) -> None:
    """`count` synthetic entries appended as the write path does (leaf and tree nodes)."""
    from django.db import transaction

    from provenance import tlog
    from provenance.models import Entry, LogState, MerkleNode, Organization

    org, _ = Organization.objects.get_or_create(
        slug="bench-witness", defaults={"name": "Bench", "country": "AU", "roles": ["supplier"]}
    )
    moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with transaction.atomic():
        state = LogState.objects.select_for_update().get_or_create(id=1)[0]
        first = state.size
        leaves = [os.urandom(32) for _ in range(count)]
        Entry.objects.bulk_create(
            Entry(
                index=first + number,
                entry_hash=os.urandom(32).hex(),
                envelope="{}",
                integrated_time=0,
                leaf_hash=leaf.hex(),
                type="origin",
                issuer=org,
                issued_at=moment,
                occurred_at=moment,
                statement={},
            )
            for number, leaf in enumerate(leaves)
        )
        nodes = tlog.grow(state, leaves)
        MerkleNode.objects.bulk_create(MerkleNode(id=node_id, hash=value) for node_id, value in nodes)
        state.save()


def wait_until_up(config: list[dict[str, str]]) -> None:
    import urllib.request

    deadline = time.monotonic() + 20
    for witness in config:
        while True:
            try:
                urllib.request.urlopen(witness["url"] + "/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"witness {witness['url']} did not start") from None
                time.sleep(0.1)


def rounds(count: int, entries: int) -> tuple[list[float], list[float]]:
    from provenance import checkpoints, witnesses

    published, quorum = [], []
    for _ in range(count):
        append_leaves(entries)
        started = time.perf_counter()
        checkpoint = checkpoints.publish_checkpoint()
        signed = time.perf_counter()
        if not witnesses.gather(checkpoint, timeout=10):
            raise SystemExit(f"no quorum for checkpoint {checkpoint.tree_size}")
        published.append(signed - started)
        quorum.append(time.perf_counter() - started)
    return published, quorum


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--entries", type=int, default=10, help="entries appended before each checkpoint")
    options = parser.parse_args()
    setup_django(fresh_database("cairn_bench_witness"))
    from django.conf import settings

    from provenance import ledger_key

    with tempfile.TemporaryDirectory(prefix="cairn-bench-witness-") as home:
        processes, config = start_witnesses(Path(home), ledger_key.current().verifier)
        try:
            wait_until_up(config)
            settings.LEDGER_WITNESSES, settings.LEDGER_WITNESS_QUORUM = config, 2
            append_leaves(options.entries)
            rounds(1, options.entries)  # warm-up: each witness's first cosignature, from size 0
            published, quorum = rounds(options.rounds, options.entries)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
    p50, p50_quorum = statistics.median(published), statistics.median(quorum)
    print(f"checkpoint publication to quorum, 2 local witnesses, {options.rounds} rounds of {options.entries} entries")
    print(f"  publish alone:       p50 {p50 * 1000:7.1f} ms   p90 {percentile(published, 0.9) * 1000:7.1f} ms")
    print(f"  publish to quorum:   p50 {p50_quorum * 1000:7.1f} ms   p90 {percentile(quorum, 0.9) * 1000:7.1f} ms")
    print(f"  ratio to publish alone (p50): {p50_quorum / p50:.2f}x   goal: under 2,000 ms at p50")


if __name__ == "__main__":
    main()
