"""`cairn verdicts`: every verdict in the log, read and checked by the client itself.

An auditor's token reads the whole log (`GET /log/entries`, 1,000 entries a
request) up to the latest checkpoint, which must verify under the log key
(given, or GET /log/key's). The client recomputes each leaf hash from the
leaf input it was served and the tree's root from them: the entries are
then exactly the signed log's. Each ledger entry (contract §12) must be
signed by the log key alone and read as a ledger entry; the verdicts are
listed by VIN with the pack each claim names, and intact verdicts on one
VIN that disagree with no `rules` entry between them are reported
(cairn_core.regimes.s30d.verdict_monitor).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import TypedDict

from cairn_core import ledger_entries, merkle, signed_note
from cairn_core.client.api import Client
from cairn_core.entries import Key, check_ledger_signature, decode_envelope
from cairn_core.ledger_entries import LedgerState
from cairn_core.merkle import leaf_hash
from cairn_core.regimes.s30d import verdict_monitor

PAGE = 1000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class LogUnreadable(Exception):
    """The log served does not verify: a bad checkpoint, a leaf or root that does not match."""


@dataclass
class ReadLog:
    state: LedgerState = field(default_factory=LedgerState)
    packs: dict[int, str] = field(default_factory=dict)  # claim index: the pack it claims
    problems: list[str] = field(default_factory=list)
    size: int = 0


def read(client: Client, log_key: signed_note.Verifier) -> ReadLog:
    """The whole log up to the latest checkpoint, checked as the module docstring says."""
    try:
        checkpoint = signed_note.open_checkpoint(client.checkpoint(), log_key)
    except signed_note.NoteError as exc:
        raise LogUnreadable(f"the checkpoint does not verify under {log_key}: {exc}") from exc
    found, leaves = ReadLog(size=checkpoint.tree_size), list[bytes]()
    ledger = Key.of(log_key.public_key, "", _EPOCH, None)
    keyid = _keyid(log_key.public_key)
    for start in range(0, checkpoint.tree_size, PAGE):
        body = client.get_json("/log/entries", start=start, end=min(start + PAGE, checkpoint.tree_size))
        for item in body["entries"]:
            leaf = leaf_hash(str(item["leaf_input"]).encode("utf-8"))
            if leaf.hex() != item["leaf_hash"] or int(item["index"]) != len(leaves):
                raise LogUnreadable(f"entry {item['index']}: the leaf hash served is not the leaf input's")
            leaves.append(leaf)
            _read_entry(found, int(item["index"]), str(item["leaf_input"]), ledger, keyid)
    if _root(leaves) != checkpoint.root_hash:
        raise LogUnreadable("the entries served do not make the signed checkpoint's root")
    return found


def _read_entry(found: ReadLog, index: int, leaf_input: str, ledger: Key, keyid: str) -> None:
    decoded = decode_envelope(json.loads(leaf_input)["envelope"])
    if not decoded.is_ledger_entry:
        if decoded.payload.get("type") == "claim":
            found.packs[index] = str(decoded.payload.get("batch"))
        return
    problems = check_ledger_signature(index, decoded, ledger, keyid)
    try:
        ledger_entries.check(decoded.payload)
    except ledger_entries.LedgerEntryError as exc:
        found.problems.append(f"entry {index}: not a ledger entry: {exc}")
        return
    found.problems += [f"entry {index}: {problem.message}" for problem in problems]
    if not problems:
        found.problems += [f"entry {index}: {message}" for message in found.state.apply(index, decoded.payload)]


def _root(leaves: list[bytes]) -> bytes:
    frontier: list[bytes] = []
    for size, leaf in enumerate(leaves):
        frontier, _completed = merkle.append_to_frontier(frontier, size, leaf)
    return merkle.root_from_frontier(frontier)


def _keyid(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()


class Report(TypedDict):
    """What `cairn verdicts` prints (as JSON with --json)."""

    tree_size: int
    verdicts: list[dict[str, object]]
    disagreements: list[str]
    problems: list[str]


def report(found: ReadLog, vin: str | None = None) -> Report:
    """Every verdict (of `vin`), the disagreements, the log's problems."""
    records = [record for record in found.state.verdicts.values() if vin is None or record.vin == vin]
    disagreements = verdict_monitor.disagreements(records, found.state.rules)
    return {
        "tree_size": found.size,
        "verdicts": verdict_monitor.table(records, found.packs),
        "disagreements": [item.message for item in disagreements],
        "problems": found.problems,
    }
