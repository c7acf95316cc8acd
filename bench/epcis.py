"""The EPCIS 2.0 export of a batch whose upstream DAG has about 1,000 entries.

Builds the claim of bench/verify_claim.py through the real write path
(about 1,000 entries upstream of one pack), then measures in the same run,
interleaved so that each figure sees the same load:

1. export, warm: `provenance.epcis.export(pack)` as GET /batches/{id}/epcis
   and `manage.py export_epcis` run it, with the events' hash IDs in the
   cache (an event never changes once logged), and its JSON text
   (goal: under 1 s on PostgreSQL);
2. export, cold: the same with an empty cache, every event hashed by GS1's
   reference implementation (what the first export of a DAG costs);
3. the validator: GS1's EPCIS 2.0 JSON Schema (Draft 7, formats checked)
   over the exported document, as the tests run it;
4. the baseline: fetching the same entries (their statements and hashes,
   one query, as JSON text), and the ratio of 1 to it.

    DATABASE_URL=postgres://... python bench/epcis.py [--runs 5] [--vin VIN]

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


class NoCache:
    def get_many(self, keys):
        return {}

    def set_many(self, data, timeout=None):
        return []


def export(batch, known_ids=None) -> tuple[float, str, int]:
    from cairn_core import epcis as mapping
    from provenance import epcis

    started = time.perf_counter()
    if known_ids is None:
        text = mapping.dumps(epcis.export(batch))
    else:
        entries = epcis.logged_statements(epcis.upstream_indexes(batch.id))
        document = mapping.document(entries, epcis.identifiers(), created="2026-01-01T00:00:00Z", known_ids=known_ids)
        text = mapping.dumps(document)
    return time.perf_counter() - started, text, text.count('"cairn:index"')


def bare_fetch(batch) -> float:
    """The same entries' statements and hashes, as JSON text: what any export reads."""
    from provenance import epcis
    from provenance.models import Entry

    started = time.perf_counter()
    indexes = epcis.upstream_indexes(batch.id)
    rows = Entry.objects.filter(index__in=indexes).values_list("index", "entry_hash", "leaf_hash", "statement")
    json.dumps([list(row) for row in rows])
    return time.perf_counter() - started


def validate(text: str):
    import jsonschema

    validator = jsonschema.Draft7Validator(
        json.loads(SCHEMA.read_text()), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    started = time.perf_counter()
    errors = list(validator.iter_errors(json.loads(text)))
    return time.perf_counter() - started, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--vin", help="Measure a claim built by an earlier run instead.")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if url == DEFAULT_URL:
        _create_if_missing("cairn_bench_epcis")
    setup_django(url, settings="config.settings")
    from provenance.models import Batch, Claim

    vin = args.vin or Builder(secrets.token_hex(3)).build()
    analyze()
    batch = Batch.objects.get(id=Claim.objects.get(vin=vin).batch_id)
    export(batch)  # fills the cache: the warm figures are every later export's
    warm, cold, bare, checks = [], [], [], []
    for _ in range(args.runs):
        seconds, text, events = export(batch)
        warm.append(seconds)
        cold.append(export(batch, known_ids=NoCache())[0])
        bare.append(bare_fetch(batch))
        if SCHEMA.exists():
            seconds, errors = validate(text)
            checks.append(seconds)
    print(f"claim {vin}: pack {batch.id}, {events} events, {len(text) / 1e6:.2f} MB of JSON-LD")
    if checks:
        print(f"GS1's EPCIS 2.0 JSON Schema, formats checked: {len(errors)} errors")
    print(f"                 median     best   (of {args.runs} runs)")
    print(f"export, warm   {ms(statistics.median(warm))}  {ms(min(warm))}   goal < 1 s (event IDs cached)")
    print(f"export, cold   {ms(statistics.median(cold))}  {ms(min(cold))}   every event hashed")
    if checks:
        print(f"validator      {ms(statistics.median(checks))}  {ms(min(checks))}")
    print(f"bare fetch     {ms(statistics.median(bare))}  {ms(min(bare))}")
    ratios = [w / b for w, b in zip(warm, bare, strict=True)]
    print(f"ratio          {statistics.median(ratios):7.2f}   {min(ratios):7.2f}      export, warm / bare fetch")


if __name__ == "__main__":
    main()
