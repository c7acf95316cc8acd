"""`cairn-epcis-check`: the examiner's link from an EPCIS export back to the log.

    cairn-epcis-check EXPORT --bundle BUNDLE --log-key VKEY [--witness VKEY]... [--witnesses-required K] [--json]

An EPCIS document is only as good as the entries it names. This checks,
offline, that every event of an export (contract §11) is a logged,
signed statement that says what the event says:

1. the proof bundle (contract §8) verifies, as `cairn-verify` checks it,
   against the pinned log key and witnesses;
2. each event's `cairn:index` is an entry of the bundle, whose leaf hash
   is the event's `cairn:leaf_hash` and whose envelope's entry_hash is its
   `cairn:entry_hash`;
3. the event is exactly the event cairn_core.epcis makes of that entry's
   signed statement (under the export's own `cairn` namespace), its
   `recordTime` the entry's integrated time;
4. each `eventID` is the event's EPCIS event hash, recomputed by GS1's
   reference implementation.

Exit status, as cairn-verify's: 0 every event traced to an entry of a
bundle verified against the pinned keys; 1 a check failed (each named);
2 unreadable input or bad arguments; 3 every check passed but no
`--log-key` was given (or too few pinned witnesses cosigned), so nothing
anchors the bundle: never the word TRACED then.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from cairn_core import bundle, cosignature, dsse, epcis, signed_note
from cairn_core.epcis_import import event_list, identifiers_of

FAILED, UNREADABLE, UNANCHORED = 1, 2, 3


@dataclass
class Trace:
    """What the check found: the bundle's result, and each event's problems."""

    events: int = 0
    problems: list[str] = field(default_factory=list)
    bundle_status: int = 0

    @property
    def status(self) -> int:
        return FAILED if self.problems else self.bundle_status


@dataclass(frozen=True)
class LoggedEntry:
    leaf_hash: str
    entry_hash: str
    logged: epcis.LoggedStatement


def bundle_entries(document: Mapping[str, Any]) -> dict[int, LoggedEntry]:
    """The bundle's attestations by index, with their hashes and statements."""
    entries: dict[int, LoggedEntry] = {}
    for row in document["entries"]:
        leaf = json.loads(row["leaf_input"])
        envelope = leaf["envelope"]
        if envelope["payloadType"] != "application/vnd.cairn.attestation+json":
            continue  # a ledger entry (contract §12): no event
        parsed = dsse.envelope_from_dict(envelope)
        statement = json.loads(parsed.payload)
        leaf_hash = hashlib.sha256(b"\x00" + row["leaf_input"].encode("utf-8")).hexdigest()
        logged = epcis.LoggedStatement(row["index"], parsed.entry_hash, leaf_hash, leaf["integrated_time"], statement)
        entries[row["index"]] = LoggedEntry(leaf_hash, parsed.entry_hash, logged)
    return entries


def trace_events(export: Mapping[str, Any], entries: Mapping[int, LoggedEntry]) -> list[str]:
    """Checks 2 to 4 of the module, one line per problem."""
    ids = identifiers_of(export)
    mapper = epcis.Mapper(ids, epcis.units_of(entry.logged.statement for entry in entries.values()))
    problems: list[str] = []
    events = event_list(export)
    for number, event in enumerate(events, start=1):
        index = event.get("cairn:index") if isinstance(event, Mapping) else None
        entry = entries.get(index) if isinstance(index, int) else None
        if entry is None:
            problems.append(f"event {number}: cairn:index {index!r} names no entry of the bundle")
            continue
        expected = mapper.event(entry.logged)
        stated = {key: value for key, value in event.items() if key != "eventID"}
        if stated != json.loads(epcis.dumps(expected), parse_float=Decimal):
            differing = sorted(k for k in set(stated) | set(expected) if stated.get(k) != _plain(expected.get(k)))
            problems.append(f"event {number} (index {index}): says otherwise than its entry: {', '.join(differing)}")
    hashes = epcis.event_hashes(export)
    for number, (event, event_hash) in enumerate(zip(events, hashes, strict=True), start=1):
        if event.get("eventID") != event_hash:
            problems.append(f"event {number}: eventID is not its event hash ({event_hash})")
    return problems


def _plain(value: object) -> object:
    return json.loads(epcis.dumps({"v": value}), parse_float=Decimal)["v"]


def check(
    export: Mapping[str, Any],
    bundle_document: object,
    *,
    log_key: signed_note.Verifier | None,
    witnesses: Sequence[cosignature.WitnessKey] = (),
    witnesses_required: int | None = None,
) -> Trace:
    result = bundle.verify(bundle_document, log_key=log_key, witnesses=witnesses, witnesses_required=witnesses_required)
    trace = Trace(events=len(event_list(export)), bundle_status=result.status)
    trace.problems += [f"bundle: {failure.line}" for failure in result.failures]
    trace.problems += trace_events(export, bundle_entries(bundle.check_shape(bundle_document)))
    return trace


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cairn-epcis-check", description=__doc__.split("\n\n")[0])
    parser.add_argument("export", help="the EPCIS 2.0 document (GET /batches/{id}/epcis, manage.py export_epcis)")
    parser.add_argument("--bundle", required=True, help="a proof bundle holding the events' entries")
    parser.add_argument("--log-key", metavar="VKEY", help="the ledger's verifier key, as GET /log/key gives it")
    parser.add_argument("--witness", metavar="VKEY", action="append", default=[], help="a trusted witness's vkey")
    parser.add_argument("--witnesses-required", metavar="K", type=int)
    parser.add_argument("--json", action="store_true", help="the result as one JSON object")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = _arguments(argv)
    except SystemExit as exc:
        return UNREADABLE if exc.code else 0
    try:
        export = json.loads(Path(options.export).read_text(encoding="utf-8"), parse_float=Decimal)
        bundle_document = bundle.load(Path(options.bundle).read_bytes())
        log_key = signed_note.parse_verifier(options.log_key.strip()) if options.log_key else None
        witnesses = [cosignature.parse_vkey(vkey.strip()) for vkey in options.witness]
        trace = check(
            export, bundle_document, log_key=log_key, witnesses=witnesses, witnesses_required=options.witnesses_required
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"cairn-epcis-check: cannot check: {exc}", file=sys.stderr)
        return UNREADABLE
    _report(trace, options)
    return trace.status


def _report(trace: Trace, options: argparse.Namespace) -> None:
    if options.json:
        print(json.dumps({"status": trace.status, "events": trace.events, "problems": trace.problems}))
        return
    for line in trace.problems:
        print(line)
    if trace.status == 0:
        print(f"TRACED: {trace.events} events, each a signed entry of a log verified against the pinned keys")
    elif trace.status == UNANCHORED:
        print(f"UNANCHORED: {trace.events} events match the bundle's entries, but no --log-key (or too few")
        print("pinned witnesses) anchors the bundle: pin the ledger's key obtained out of band")
    else:
        print(f"FAILED: {len(trace.problems)} problems among {trace.events} events")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
