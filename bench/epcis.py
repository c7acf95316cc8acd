"""The EPCIS 2.0 export of a batch whose upstream DAG has about 1,000 entries.

Builds the claim of bench/verify_claim.py through the real write path
(about 1,000 entries upstream of one pack), then measures in the same run:

1. export: `provenance.epcis.export_text(pack)` as GET /batches/{id}/epcis
   and `manage.py export_epcis` run it, once the background task
   (`provenance.derive_epcis_events`) has stored every entry's event
   (goal: under 1 s on PostgreSQL);
2. export, cold: the same with no event stored, each derived and hashed by
   GS1's reference implementation during the export (what the task costs,
   and the first export when no worker ran); --cold-runs times (default 1);
3. the validator: GS1's EPCIS 2.0 JSON Schema (Draft 7, formats checked)
   over the exported document, as the tests build it (once, its local
   references resolved: tests/epcis_schema.py), beside the schema as
   published (each reference looked up as it is met), in alternation;
4. the baseline: fetching the same entries (their statements and hashes,
   one query, as JSON text), and the ratio of 1 to it, per interleaved pair.

    DATABASE_URL=postgres://... python bench/epcis.py [--runs 5] [--cold-runs 1] [--vin VIN]

Without DATABASE_URL it uses postgres://postgres@127.0.0.1:5432/cairn_bench_epcis
(created if missing). The schema is read from ../shared/vendor/gs1-epcis/
beside the repository; without it the validator's figure is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import setup_django  # noqa: E402
from bench.verify_claim import Builder, _create_if_missing, analyze, ms  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/cairn_bench_epcis"
SCHEMA = Path(__file__).resolve().parents[1] / ".." / "shared" / "vendor" / "gs1-epcis" / "EPCIS-JSON-Schema.json"


def export(batch) -> tuple[float, str]:
    from provenance import epcis

    started = time.perf_counter()
    text = epcis.export_text(batch)
    return time.perf_counter() - started, text


def cold_export(batch) -> float:
    """The export with none of its events stored (each derived during it)."""
    from provenance import epcis
    from provenance.models import EpcisEvent

    EpcisEvent.objects.filter(entry_id__in=epcis.upstream_indexes(batch.id)).delete()
    return export(batch)[0]


def bare_fetch(batch) -> float:
    """The same entries' statements and hashes, as JSON text: what any export reads."""
    from provenance import epcis
    from provenance.models import Entry

    started = time.perf_counter()
    indexes = epcis.upstream_indexes(batch.id)
    rows = Entry.objects.filter(index__in=indexes).values_list("index", "entry_hash", "leaf_hash", "statement")
    json.dumps([list(row) for row in rows])
    return time.perf_counter() - started


def validate(validator, text: str) -> tuple[float, list]:
    started = time.perf_counter()
    errors = list(validator.iter_errors(json.loads(text)))
    return time.perf_counter() - started, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=1)
    parser.add_argument("--vin", help="Measure a claim built by an earlier run instead.")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if url == DEFAULT_URL:
        _create_if_missing("cairn_bench_epcis")
    setup_django(url, settings="config.settings")
    from provenance import epcis
    from provenance.models import Batch, Claim

    vin = args.vin or Builder(secrets.token_hex(3)).build()
    analyze()
    batch = Batch.objects.get(id=Claim.objects.get(vin=vin).batch_id)
    cold, cold_bare = [], []
    for _ in range(args.cold_runs):
        cold.append(cold_export(batch))
        cold_bare.append(bare_fetch(batch))
    started = time.perf_counter()
    derived = epcis.derive_pending(epcis.upstream_indexes(batch.id))
    task = time.perf_counter() - started  # nothing left: the cold export stored them all
    warm, bare = [], []
    for _ in range(args.runs):
        seconds, text = export(batch)
        warm.append(seconds)
        bare.append(bare_fetch(batch))
    events = text.count('"cairn:index"')
    print(f"claim {vin}: pack {batch.id}, {events} events, {len(text) / 1e6:.2f} MB of JSON-LD")
    print(f"                 median     best   (of {args.runs} runs; cold: {args.cold_runs})")
    print(f"export         {ms(statistics.median(warm))}  {ms(min(warm))}   goal < 1 s (events stored)")
    print(f"export, cold   {ms(statistics.median(cold))}  {ms(min(cold))}   every event derived and hashed")
    print(f"bare fetch     {ms(statistics.median(bare))}  {ms(min(bare))}")
    ratios = [w / b for w, b in zip(warm, bare, strict=True)]
    print(f"ratio          {statistics.median(ratios):7.2f}   {min(ratios):7.2f}      export / bare fetch")
    cold_ratios = [c / b for c, b in zip(cold, cold_bare, strict=True)]
    print(
        f"ratio, cold    {statistics.median(cold_ratios):7.2f}   {min(cold_ratios):7.2f}      export, cold / bare fetch"
    )
    print(f"task again     {ms(task)}            {derived} events derived (a repeated task claims nothing)")
    if SCHEMA.exists():
        measure_validator(text, statistics.median(bare), args.runs)


def measure_validator(text: str, bare: float, runs: int) -> None:
    """The tests' validator (built once, references resolved) against GS1's
    schema as published, in alternation; each built once outside the timing."""
    from tests import epcis_schema

    started = time.perf_counter()
    resolved = epcis_schema.build(epcis_schema.resolved(epcis_schema.published()))
    built = time.perf_counter() - started
    published = epcis_schema.build(epcis_schema.published())
    timed, as_published = [], []
    for _ in range(runs):
        seconds, errors = validate(resolved, text)
        timed.append(seconds)
        as_published.append(validate(published, text)[0])
    ratios = [t / p for t, p in zip(timed, as_published, strict=True)]
    print(f"GS1's EPCIS 2.0 JSON Schema, formats checked: {len(errors)} errors")
    print(
        f"validator      {ms(statistics.median(timed))}  {ms(min(timed))}   built once ({ms(built)}), reused "
        f"({statistics.median(timed) / bare:.1f}x the bare fetch)"
    )
    print(
        f"as published   {ms(statistics.median(as_published))}  {ms(min(as_published))}   "
        f"references looked up: ratio {statistics.median(ratios):.2f} (best {min(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
