"""`cairn-epcis-check`: the examiner's link from an EPCIS export back to the log.

    cairn-epcis-check EXPORT --bundle BUNDLE --log-key VKEY [--witness VKEY]... [--witnesses-required K] [--json]
    cairn-epcis-check EXPORT --log URL [--token TOKEN] --log-key VKEY [--witness VKEY]... [...]

An EPCIS document is only as good as the entries it names. This checks
that every event of an export (contract §11) is a logged, signed
statement that says what the event says, offline against a proof bundle
or online against the log of a running Cairn:

1. the proof bundle (contract §8) verifies, as `cairn-verify` checks it,
   against the pinned log key and witnesses; or, with `--log`, the log's
   latest checkpoint (GET /log/checkpoint) verifies under the pinned log
   key, with the pinned witnesses' quorum (the same trust rules), and each
   entry an event names (GET /attestations/{index}, with a token that may
   read it: an auditor's reads every entry) is in it: its leaf hash,
   computed here from the envelope and integrated time, leads to the
   checkpoint's root by the inclusion proof the log serves
   (GET /log/proof/inclusion);
2. each event's `cairn:index` is an entry of the bundle (the log), whose
   leaf hash is the event's `cairn:leaf_hash` and whose envelope's
   entry_hash is its `cairn:entry_hash`;
3. the event is exactly the event cairn_core.epcis makes of that entry's
   signed statement (under the export's own `cairn` namespace), its
   `recordTime` the entry's integrated time;
4. each `eventID` is the event's EPCIS event hash, recomputed by GS1's
   reference implementation.

Exit status, as cairn-verify's: 0 every event traced to an entry of a
bundle verified against the pinned keys; 1 a check failed (each named);
2 unreadable input, bad arguments, or a log that cannot be reached; 3
every check passed but no `--log-key` was given (or too few pinned
witnesses cosigned), so nothing anchors the bundle or the log: never the
word TRACED then. The log's own entries' signatures are the log's to
check when it accepts them (and `cairn-verify`'s in a bundle); against
the log this checks that it logged them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn_core import bundle, cosignature, dsse, epcis, merkle, signed_note
from cairn_core.epcis_import import event_list, identifiers_of
from cairn_core.regimes.s30d import bundle as bundle_30d

if TYPE_CHECKING:
    from cairn_core.client.api import Client

FAILED, UNREADABLE, UNANCHORED = 1, 2, 3
ATTESTATION = "application/vnd.cairn.attestation+json"


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
        if envelope["payloadType"] != ATTESTATION:
            continue  # a ledger entry (contract §12): no event
        parsed = dsse.envelope_from_dict(envelope)
        statement = json.loads(parsed.payload)
        leaf_hash = merkle.leaf_hash(row["leaf_input"].encode("utf-8")).hex()
        logged = epcis.LoggedStatement(row["index"], parsed.entry_hash, leaf_hash, leaf["integrated_time"], statement)
        entries[row["index"]] = LoggedEntry(leaf_hash, parsed.entry_hash, logged)
    return entries


def trace_events(
    export: Mapping[str, Any],
    entries: Mapping[int, LoggedEntry],
    *,
    where: str = "the bundle",
    unproven: Mapping[int, str] | None = None,
) -> list[str]:
    """Checks 2 to 4 of the module, one line per problem; `unproven`: why an
    index named is not among `entries` (else: no entry of `where`)."""
    ids = identifiers_of(export)
    mapper = epcis.Mapper(ids, epcis.units_of(entry.logged.statement for entry in entries.values()))
    problems: list[str] = []
    events = event_list(export)
    for number, event in enumerate(events, start=1):
        index = event.get("cairn:index") if isinstance(event, Mapping) else None
        entry = entries.get(index) if isinstance(index, int) else None
        if entry is None:
            reason = (unproven or {}).get(index) if isinstance(index, int) else None
            problems.append(
                f"event {number} (index {index}): {reason}"
                if reason
                else f"event {number}: cairn:index {index!r} names no entry of {where}"
            )
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
    result = bundle_30d.verify(
        bundle_document, log_key=log_key, witnesses=witnesses, witnesses_required=witnesses_required
    )
    trace = Trace(events=len(event_list(export)), bundle_status=result.status)
    trace.problems += [f"bundle: {failure.line}" for failure in result.failures]
    trace.problems += trace_events(export, bundle_entries(bundle.check_shape(bundle_document)))
    return trace


def check_log(
    export: Mapping[str, Any],
    client: Client,
    *,
    log_key: signed_note.Verifier | None,
    witnesses: Sequence[cosignature.WitnessKey] = (),
    witnesses_required: int | None = None,
) -> Trace:
    """Check 1 against a running Cairn's log (see the module), then 2 to 4."""
    trace = Trace(events=len(event_list(export)))
    verifier = log_key or signed_note.parse_verifier(client.log_key()["verifier"])
    text = client.checkpoint()
    try:
        checkpoint = signed_note.open_checkpoint(text, verifier)
        note, lines = cosignature.split_cosigned(text, verifier.name)
    except signed_note.NoteError as exc:
        trace.problems.append(f"log: the checkpoint does not verify under the log key {verifier}: {exc}")
        return trace
    cosigned = cosignature.verified(signed_note.split_note(note)[0], lines, witnesses)
    required = len(witnesses) if witnesses_required is None else witnesses_required
    trace.bundle_status = 0 if log_key is not None and len(cosigned) >= required else UNANCHORED
    indexes = sorted({e.get("cairn:index") for e in event_list(export) if isinstance(e, Mapping)} - {None}, key=str)
    entries: dict[int, LoggedEntry] = {}
    unproven: dict[int, str] = {}
    for index in (i for i in indexes if isinstance(i, int) and not isinstance(i, bool) and i >= 0):
        try:
            entries[index] = logged_entry(client, index, checkpoint)
        except NotInLog as exc:
            unproven[index] = str(exc)
    trace.problems += trace_events(export, entries, where="the log", unproven=unproven)
    return trace


class NotInLog(ValueError):
    """An entry the log does not prove under its checkpoint (the reason)."""


def logged_entry(client: Client, index: int, checkpoint: signed_note.Checkpoint) -> LoggedEntry:
    """Entry `index` as the log serves it, proven in `checkpoint`; NotInLog if not."""
    from cairn_core.client import statements
    from cairn_core.client.api import CairnError

    try:
        entry = client.entry(index)
    except CairnError as exc:
        raise NotInLog(f"the log serves no entry {index} to this token ({exc.code})") from exc
    envelope = entry["envelope"]
    if envelope.get("payloadType") != ATTESTATION or entry.get("index") != index:
        raise NotInLog(f"entry {index} of the log is no attestation")
    parsed = dsse.envelope_from_dict(envelope)
    leaf = merkle.leaf_hash(statements.leaf_input(envelope, entry["integrated_time"]))
    if index >= checkpoint.tree_size:
        raise NotInLog(f"entry {index} is not in the log's latest checkpoint ({checkpoint.tree_size} entries) yet")
    proof = client.inclusion_proof(index, checkpoint.tree_size)
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    if not merkle.verify_inclusion(index, checkpoint.tree_size, leaf, hashes, checkpoint.root_hash):
        raise NotInLog(f"entry {index}'s inclusion proof does not lead to the checkpoint's root")
    statement = json.loads(parsed.payload)
    logged = epcis.LoggedStatement(index, parsed.entry_hash, leaf.hex(), entry["integrated_time"], statement)
    return LoggedEntry(leaf.hex(), parsed.entry_hash, logged)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cairn-epcis-check", description=__doc__.split("\n\n")[0])
    parser.add_argument("export", help="the EPCIS 2.0 document (GET /batches/{id}/epcis, manage.py export_epcis)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle", help="a proof bundle holding the events' entries")
    source.add_argument("--log", metavar="URL", help="a running Cairn whose log holds them (its base URL)")
    parser.add_argument(
        "--token", default=os.environ.get("CAIRN_TOKEN"), help="with --log: a token that may read the entries"
    )
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
        trace = _trace(options)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"cairn-epcis-check: cannot check: {exc}", file=sys.stderr)
        return UNREADABLE
    _report(trace, options)
    return trace.status


def _trace(options: argparse.Namespace) -> Trace:
    export = json.loads(Path(options.export).read_text(encoding="utf-8"), parse_float=Decimal)
    log_key = signed_note.parse_verifier(options.log_key.strip()) if options.log_key else None
    witnesses = [cosignature.parse_vkey(vkey.strip()) for vkey in options.witness]
    trust = {"log_key": log_key, "witnesses": witnesses, "witnesses_required": options.witnesses_required}
    if options.bundle:
        return check(export, bundle.load(Path(options.bundle).read_bytes()), **trust)
    from cairn_core.client.api import CairnError, Client

    try:
        with Client(options.log, options.token) as client:
            return check_log(export, client, **trust)
    except CairnError as exc:  # the log itself unreachable or refusing: nothing concluded
        raise ValueError(f"the log at {options.log} answered {exc}") from exc


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
        print("pinned witnesses) anchors the bundle or the log: pin the ledger's key obtained out of band")
    else:
        print(f"FAILED: {len(trace.problems)} problems among {trace.events} events")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
