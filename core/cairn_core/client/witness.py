"""`cairn prove`: an entry's inclusion, and the supplier as a light witness.

Each call fetches the log's latest checkpoint (GET /log/checkpoint, contract
§4) and verifies its signature under the log's key, then the entry's
inclusion proof against its root (RFC 9162 §2.1.3). The key is pinned per
server on first use (or given), and the largest checkpoint seen of each log
is kept in a local state file, with the newest entry proven in it. Every
later call also checks the checkpoint served against the one kept:

- a consistency proof between the two (RFC 9162 §2.1.4) that the server
  answers and that does not verify, a 400 saying it cannot prove them
  consistent, or two checkpoints of one size with different roots:
  ForkDetected (`log_forked`);
- a checkpoint smaller than the one kept, one that no longer covers the
  newest entry proven here, or an entry at that index with another leaf
  hash than the one proven: RollbackDetected (`log_rolled_back`).

**Evidence.** Both are evidence against the log, signed by its own key: the
two signed notes, each with its cosignature lines, and the proof that
failed (the request and the server's answer) are saved as one JSON file in
`evidence/` beside the state file (`<UTC time>-<code>.json`, written
atomically), and the error names that file. The checkpoint served is not
kept: the next call catches the same conflict again.

**Could not check.** A request answered 429 or 5xx, or not answered at all
(connection refused, time-out), is asked again, at most `Retry.tries` times
in all, waiting what the server's Retry-After says (else 1 s) and never more
than `Retry.total` seconds together. When it still fails, CouldNotCheck
(`could_not_check`) says so: nothing was learnt about the log, and it is
never reported as a fork.

**Binding to what was posted.** Given the entry_hash the receipt gave (or the
envelope, whose entry_hash is the SHA-256 of its DSSE PAE), the entry served
at the index is read (this needs a token that may read it), its entry_hash
and leaf hash are computed here, and the inclusion proof must lead from that
leaf at that index to the root: another entry at that index is EntryMismatch
(`entry_mismatch`). The index is required beside the hash: the receipt and
the import's journal hold both. (A lookup by hash waits for GET
/attestations?after=, contract §5.)

**Witnesses.** With witness vkeys given, the checkpoint used must carry valid
C2SP tlog-cosignature lines (after the log's own line, §10) by at least K of
them, else WitnessesMissing (`witnesses_missing`) names the missing ones.
The checkpoint text kept and printed in the tlog-proof is the log-signed
note alone; the cosignature lines travel beside it.

Exit statuses of `cairn prove` (each error's `exit_status`): 0 proven; 1 a
check failed (`log_forked`, `log_rolled_back`, `entry_mismatch`, `witness`:
a bad signature or proof, a changed key); 2 bad arguments (`bad_argument`);
3 too few witnesses cosigned; 4 nothing concluded yet, try again later
(`could_not_check`, `not_covered`).

The state file is JSON, written atomically:

    {"pins": {url: log verifier},
     "logs": {log verifier: {"checkpoint": the log-signed note, "cosignatures": [lines],
                             "url", "seen_at": RFC 3339 UTC,
                             "newest_entry": {"index", "leaf_hash", "entry_hash" (hex, or null)}}}}
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NotRequired, TypedDict, TypeVar, overload

from cairn_core import cosignature, merkle, signed_note, tlog_proof
from cairn_core.client import statements
from cairn_core.client.api import CairnError, Client
from cairn_core.client.wire import CheckpointSummary, Entry, Proven

T = TypeVar("T")


class WitnessError(Exception):
    """The log could not be proven: a bad signature or proof, a changed key."""

    code = "witness"
    exit_status = 1


class BadArgument(WitnessError):
    """A witness vkey, quorum or entry binding that cannot be used."""

    code = "bad_argument"
    exit_status = 2


class WitnessesMissing(WitnessError):
    """Too few of the given witnesses cosigned the checkpoint."""

    code = "witnesses_missing"
    exit_status = 3


class CouldNotCheck(WitnessError):
    """The server did not answer (429, 5xx, no connection): nothing was learnt."""

    code = "could_not_check"
    exit_status = 4


class NotCovered(WitnessError):
    """The latest checkpoint does not cover the entry yet."""

    code = "not_covered"
    exit_status = 4


class EntryMismatch(WitnessError):
    """The entry at the index proven is not the one with the entry_hash given."""

    code = "entry_mismatch"


@dataclass(frozen=True)
class Seen:
    """A checkpoint as served: the log-signed note alone, what it says, and
    the cosignature lines that came after the log's own line."""

    note: str
    checkpoint: signed_note.Checkpoint
    cosignatures: tuple[str, ...] = ()

    @property
    def body(self) -> str:
        return signed_note.split_note(self.note)[0]


class LogConflict(WitnessError):
    """Two checkpoints signed by the log's key that no append-only log can
    both have served: evidence, saved to `evidence` by Witness.prove."""

    headline = ""

    def __init__(self, reason: str, kept: Seen, served: Seen, proof: object = None) -> None:
        super().__init__(reason)
        self.reason, self.kept, self.served, self.proof = reason, kept, served, proof
        self.evidence: Path | None = None
        self.unsaved: str | None = None  # why the evidence could not be written

    def __str__(self) -> str:
        text = (
            f"{self.headline}: {self.reason}.\n"
            f"  checkpoint seen before: {describe(self.kept.checkpoint)}\n"
            f"  checkpoint served now:  {describe(self.served.checkpoint)}"
        )
        if self.evidence:
            text += f"\n  evidence (both signed checkpoints and the proof) saved in {self.evidence}"
        if self.unsaved:
            text += f"\n  the evidence could not be saved: {self.unsaved}"
        return text


class ForkDetected(LogConflict):
    """The log's history differs from the one seen before."""

    code = "log_forked"
    headline = "the log was rewritten or forked"


class RollbackDetected(LogConflict):
    """The log went back: a smaller checkpoint, or an entry proven before lost."""

    code = "log_rolled_back"
    headline = "the log was rolled back"


def describe(checkpoint: signed_note.Checkpoint) -> str:
    root = base64.b64encode(checkpoint.root_hash).decode("ascii")
    return f"{checkpoint.origin} size {checkpoint.tree_size} root {root}"


@overload
def as_dict(checkpoint: signed_note.Checkpoint) -> CheckpointSummary: ...
@overload
def as_dict(checkpoint: None) -> None: ...
def as_dict(checkpoint: signed_note.Checkpoint | None) -> CheckpointSummary | None:
    if checkpoint is None:
        return None
    return {
        "origin": checkpoint.origin,
        "tree_size": checkpoint.tree_size,
        "root_hash": base64.b64encode(checkpoint.root_hash).decode("ascii"),
    }


def default_state_path() -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "cairn" / "witness.json"


def now_rfc3339(*, precise: bool = False) -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ" if precise else "%Y-%m-%dT%H:%M:%SZ")


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all: a temporary file, synced, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class NewestEntry(TypedDict):
    index: int
    leaf_hash: str  # hex
    entry_hash: str | None  # hex, when the entry itself was read


class LogRecord(TypedDict):
    checkpoint: str  # the log-signed note alone
    url: str
    seen_at: str
    cosignatures: NotRequired[list[str]]
    newest_entry: NotRequired[NewestEntry]


class State(TypedDict):
    """The state file."""

    pins: dict[str, str]  # server url: log verifier
    logs: dict[str, LogRecord]  # log verifier: its largest checkpoint seen


def transient(error: CairnError) -> bool:
    """No answer, a 408 or 429, or a server error: worth asking again."""
    return error.status in (0, 408, 429) or error.status >= 500


@dataclass(frozen=True)
class Retry:
    """How a request is asked again: at most `tries` times, waiting the
    server's Retry-After (else 1 s), never more than `total` seconds in all."""

    tries: int = 3
    total: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, what: str, request: Callable[[], T]) -> T:
        """`request()`'s answer; CouldNotCheck when every try went unanswered."""
        waited = 0.0
        for attempt in range(1, self.tries + 1):
            try:
                return request()
            except CairnError as exc:
                if not transient(exc):
                    raise
                pause = 1.0 if exc.retry_after is None else exc.retry_after
                if attempt == self.tries or waited + pause > self.total:
                    raise CouldNotCheck(
                        f"could not check: {what} failed {attempt} time(s), the last with {exc}; "
                        "nothing was learnt about the log: try again later"
                    ) from exc
            except ValueError as exc:  # a 2xx whose body is not JSON: not the log's answer
                raise CouldNotCheck(f"could not check: {what} did not answer JSON ({exc})") from exc
            self.sleep(pause)
            waited += pause
        raise AssertionError("unreachable")


class Witness:
    """The state file: pinned log keys and the last checkpoint of each log."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        log_key: str | None = None,
        witnesses: Sequence[str] = (),
        witnesses_required: int | None = None,
        retry: Retry | None = None,
    ) -> None:
        self.path = Path(path) if path else default_state_path()
        self.given_key = log_key
        self.witnesses = [self._witness_key(text) for text in witnesses]
        self.required = len(self.witnesses) if witnesses_required is None else witnesses_required
        if not 0 <= self.required <= len(self.witnesses):
            raise BadArgument(f"--witnesses-required {self.required}: give at least that many --witness")
        self.retry = retry or Retry()
        self.state = self._load()

    @staticmethod
    def _witness_key(text: str) -> cosignature.WitnessKey:
        try:
            return cosignature.parse_vkey(text)
        except signed_note.NoteError as exc:
            raise BadArgument(f"bad witness vkey {text!r}: {exc}") from exc

    def _load(self) -> State:
        try:
            state: State = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"pins": {}, "logs": {}}
        except (OSError, ValueError) as exc:
            raise WitnessError(f"cannot read the witness state {self.path}: {exc}") from exc
        state.setdefault("pins", {})
        state.setdefault("logs", {})
        return state

    def save(self) -> None:
        write_atomically(self.path, json.dumps(self.state, indent=2, sort_keys=True) + "\n")

    # --- the log's key ----------------------------------------------------------

    def verifier_for(self, client: Client) -> signed_note.Verifier:
        """The log key given, else the one pinned for this server, else the
        server's own (pinned from now on). A server whose key differs from the
        one pinned is refused."""
        pinned = self.state["pins"].get(client.url)
        if self.given_key:
            chosen = self.given_key
        elif pinned:
            chosen = pinned
            served = self.retry.call("GET /log/key", client.log_key)["verifier"]
            if served != pinned:
                raise WitnessError(
                    f"the log's key changed: {client.url} now gives {served}, but {pinned} was pinned on first use; "
                    "if the operator rotated it, give the new one with --log-key"
                )
        else:
            chosen = self.retry.call("GET /log/key", client.log_key)["verifier"]
        try:
            verifier = signed_note.parse_verifier(chosen)
        except signed_note.NoteError as exc:
            raise WitnessError(f"bad log key {chosen!r}: {exc}") from exc
        self.state["pins"][client.url] = chosen
        return verifier

    # --- proving --------------------------------------------------------------

    def prove(self, client: Client, index: int, *, wait: float = 0, entry_hash: str | None = None) -> Proven:
        """Verify entry `index` under the latest checkpoint, once the log is
        proven consistent with the checkpoint kept; keep the larger one.
        With `entry_hash`, the entry at `index` must be the one with that hash."""
        verifier = self.verifier_for(client)
        key = str(verifier)
        kept, newest = self.kept(key, verifier), self.newest(key)
        try:
            served, cosigned = self._latest(client, verifier, kept, newest, index, wait)
            self._check_consistency(client, kept, served)
            self._check_newest(client, kept, served, newest)
        except LogConflict as conflict:
            self._save_evidence(conflict, client.url, key)
            raise
        self._keep(key, client.url, kept, served)
        self._require_quorum(index, served, cosigned)
        leaf, hashes, proven_hash = self._include(client, index, served.checkpoint, entry_hash)
        self._remember(key, index, leaf, proven_hash)
        return {
            "index": index,
            "leaf_hash": leaf.hex(),
            "entry_hash": proven_hash,
            "checkpoint": as_dict(served.checkpoint),
            "previous": as_dict(kept.checkpoint if kept else None),
            "consistent_with_previous": kept is not None,
            "log_key": key,
            "proof": tlog_proof.format_proof(index, hashes, served.note),
            "cosignatures": list(served.cosignatures),
            "witnessed_by": sorted(cosigned),
        }

    def kept(self, key: str, verifier: signed_note.Verifier) -> Seen | None:
        record = self.state["logs"].get(key)
        if record is None:
            return None
        checkpoint = self._open(record["checkpoint"], verifier)
        return Seen(record["checkpoint"], checkpoint, tuple(record.get("cosignatures", ())))

    def newest(self, key: str) -> NewestEntry | None:
        """The largest index proven in this log, with its hashes."""
        record = self.state["logs"].get(key)
        return record.get("newest_entry") if record else None

    @staticmethod
    def _open(text: str, verifier: signed_note.Verifier) -> signed_note.Checkpoint:
        try:
            return signed_note.open_checkpoint(text, verifier)
        except signed_note.NoteError as exc:
            raise WitnessError(f"the checkpoint does not verify under the log key: {exc}") from exc

    def _fetch(self, client: Client, verifier: signed_note.Verifier) -> Seen:
        """The latest checkpoint, its log signature verified, split from its cosignatures."""
        text = self.retry.call("GET /log/checkpoint", client.checkpoint)
        checkpoint = self._open(text, verifier)
        try:
            note, cosignatures = cosignature.split_cosigned(text, verifier.name)
        except signed_note.NoteError as exc:
            raise WitnessError(f"the checkpoint's signature lines are not in order: {exc}") from exc
        return Seen(note, checkpoint, tuple(cosignatures))

    def _latest(
        self,
        client: Client,
        verifier: signed_note.Verifier,
        kept: Seen | None,
        newest: NewestEntry | None,
        index: int,
        wait: float,
    ) -> tuple[Seen, dict[str, cosignature.Cosignature]]:
        """The latest checkpoint and its valid cosignatures, fetched again
        until it covers `index` with the quorum or `wait` seconds have passed."""
        deadline = time.monotonic() + wait
        while True:
            served = self._fetch(client, verifier)
            self._compare(kept, served, newest)
            cosigned = cosignature.verified(served.body, served.cosignatures, self.witnesses)
            covered = index < served.checkpoint.tree_size and len(cosigned) >= self.required
            if covered or time.monotonic() >= deadline:
                return served, cosigned
            time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))

    # --- the log against what was seen before -------------------------------------

    @staticmethod
    def _compare(kept: Seen | None, served: Seen, newest: NewestEntry | None) -> None:
        """What the two checkpoints show alone, before any proof is asked for."""
        if kept is None:
            return
        old, new = kept.checkpoint, served.checkpoint
        if old.origin != new.origin:
            raise ForkDetected("the two checkpoints name different logs", kept, served)
        if newest is not None and new.tree_size <= newest["index"]:
            lost = f"entry {newest['index']} (leaf hash {newest['leaf_hash']}), proven here before"
            raise RollbackDetected(f"the log lost {lost}: it now has {new.tree_size} entries", kept, served)
        if new.tree_size < old.tree_size:
            raise RollbackDetected(
                f"the log served a checkpoint of size {new.tree_size}, older than the one of size "
                f"{old.tree_size} it signed before",
                kept,
                served,
            )
        if new.tree_size == old.tree_size and new.root_hash != old.root_hash:
            raise ForkDetected("two checkpoints of the same size have different roots", kept, served)

    def _proof(self, what: str, request: Callable[[], T]) -> T | CairnError:
        """The server's answer to a proof request: the proof, or its 400 (the
        server answered that it cannot prove what it signed: evidence)."""
        try:
            return self.retry.call(what, request)
        except CairnError as exc:
            if exc.status != 400:
                raise
            return exc

    def _check_consistency(self, client: Client, kept: Seen | None, served: Seen) -> None:
        """A consistency proof from the checkpoint kept to a larger one served."""
        if kept is None or not 0 < kept.checkpoint.tree_size < served.checkpoint.tree_size:
            return  # nothing kept, the same checkpoint (_compare), or the empty tree
        old, new = kept.checkpoint, served.checkpoint
        what = f"GET /log/proof/consistency?first={old.tree_size}&second={new.tree_size}"
        answer = self._proof(what, lambda: client.consistency_proof(old.tree_size, new.tree_size))
        if isinstance(answer, CairnError):
            evidence = {"request": what, "answer": answer.as_dict()}
            raise ForkDetected(f"the server cannot prove the two consistent ({answer})", kept, served, evidence)
        hashes = _hashes(answer)
        if hashes is None or not merkle.verify_consistency(
            old.tree_size, new.tree_size, old.root_hash, new.root_hash, hashes
        ):
            evidence = {"request": what, "answer": answer}
            raise ForkDetected("the consistency proof between them does not verify", kept, served, evidence)

    def _check_newest(self, client: Client, kept: Seen | None, served: Seen, newest: NewestEntry | None) -> None:
        """The newest entry proven here is still in the log, with the same leaf hash."""
        if kept is None or newest is None:
            return
        index, checkpoint = newest["index"], served.checkpoint
        what = f"GET /log/proof/inclusion?index={index}&tree_size={checkpoint.tree_size}"
        answer = self._proof(what, lambda: client.inclusion_proof(index, checkpoint.tree_size))
        if isinstance(answer, CairnError):
            evidence = {"request": what, "answer": answer.as_dict(), "newest_entry": newest}
            reason = f"the server cannot prove entry {index}, proven here before, in its checkpoint ({answer})"
            raise RollbackDetected(reason, kept, served, evidence)
        hashes, leaf = _hashes(answer), bytes.fromhex(newest["leaf_hash"])
        if (
            hashes is None
            or answer.get("leaf_hash") != newest["leaf_hash"]
            or not merkle.verify_inclusion(index, checkpoint.tree_size, leaf, hashes, checkpoint.root_hash)
        ):
            evidence = {"request": what, "answer": answer, "newest_entry": newest}
            reason = f"entry {index} now has another leaf hash than {newest['leaf_hash']}, proven here before"
            raise RollbackDetected(reason, kept, served, evidence)

    def _save_evidence(self, conflict: LogConflict, url: str, key: str) -> None:
        """Both signed checkpoints and the failed proof, in `evidence/` beside the state file."""
        document = {
            "code": conflict.code,
            "reason": conflict.reason,
            "detected_at": now_rfc3339(),
            "url": url,
            "log_key": key,
            "kept": _evidence_of(conflict.kept),
            "served": _evidence_of(conflict.served),
            "proof": conflict.proof,
        }
        target = self.path.parent / "evidence" / f"{now_rfc3339(precise=True)}-{conflict.code}.json"
        try:
            write_atomically(target, json.dumps(document, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            conflict.unsaved = str(exc)
        else:
            conflict.evidence = target

    def _require_quorum(self, index: int, served: Seen, cosigned: Mapping[str, cosignature.Cosignature]) -> None:
        """The checkpoint covers the entry and carries the witnesses' quorum."""
        if index >= served.checkpoint.tree_size:
            raise NotCovered(
                f"entry {index} is not in the latest checkpoint yet ({describe(served.checkpoint)}); "
                "checkpoints are published every minute: try again, or give --wait SECONDS"
            )
        if len(cosigned) >= self.required:
            return
        missing = [str(witness) for witness in self.witnesses if str(witness) not in cosigned]
        raise WitnessesMissing(
            f"the checkpoint ({describe(served.checkpoint)}) carries {len(cosigned)} valid cosignature(s) of the "
            f"{self.required} required; not cosigned by: {', '.join(missing)}"
        )

    # --- the entry --------------------------------------------------------------

    def _include(
        self, client: Client, index: int, served: signed_note.Checkpoint, entry_hash: str | None
    ) -> tuple[bytes, list[bytes], str | None]:
        """The entry's leaf hash, inclusion path and entry_hash (when read), verified."""
        if entry_hash is not None and not client.token:
            raise BadArgument("checking --entry-hash needs a token that may read the entry (GET /attestations/INDEX)")
        entry = self.retry.call(f"GET /attestations/{index}", lambda: client.entry(index)) if client.token else None
        what = f"GET /log/proof/inclusion?index={index}&tree_size={served.tree_size}"
        proof = self.retry.call(what, lambda: client.inclusion_proof(index, served.tree_size))
        if entry is None:  # not allowed to read the entry: the proof's leaf hash
            leaf, proven_hash = bytes.fromhex(proof["leaf_hash"]), None
        else:
            leaf, proven_hash = self._leaf_of(entry, index, entry_hash)
            if proof.get("leaf_hash") != leaf.hex():
                raise WitnessError(f"the server's leaf hash for entry {index} is not the hash of the entry it serves")
        hashes = _hashes(proof)
        if hashes is None or not merkle.verify_inclusion(index, served.tree_size, leaf, hashes, served.root_hash):
            raise WitnessError(f"the inclusion proof of entry {index} does not lead to the root of {describe(served)}")
        return leaf, hashes, proven_hash

    @staticmethod
    def _leaf_of(entry: Entry, index: int, expected: str | None) -> tuple[bytes, str]:
        """The entry's leaf hash and entry_hash, computed here from what the server serves."""
        if entry.get("index") != index:
            raise WitnessError(f"asked for entry {index}, the server served entry {entry.get('index')}")
        computed = statements.entry_hash(entry["envelope"])
        if expected is not None and computed != expected:
            raise EntryMismatch(
                f"the entry at index {index} has entry_hash {computed}, not {expected}: either the index is not "
                "the one the receipt gave, or the log now serves another entry there"
            )
        leaf = merkle.leaf_hash(statements.leaf_input(entry["envelope"], entry["integrated_time"]))
        if leaf.hex() != entry["leaf_hash"] or computed != entry["entry_hash"]:
            raise WitnessError(f"entry {index}'s hashes are not those of its envelope and integrated time")
        return leaf, computed

    # --- the state ----------------------------------------------------------------

    def _keep(self, key: str, url: str, kept: Seen | None, served: Seen) -> None:
        """Keep the served checkpoint when it is larger, once proven consistent."""
        if kept is None or served.checkpoint.tree_size > kept.checkpoint.tree_size:
            record: LogRecord = {
                "checkpoint": served.note,
                "cosignatures": list(served.cosignatures),
                "url": url,
                "seen_at": now_rfc3339(),
            }
            previous = self.state["logs"].get(key)
            if previous and "newest_entry" in previous:
                record["newest_entry"] = previous["newest_entry"]
            self.state["logs"][key] = record
        self.save()

    def _remember(self, key: str, index: int, leaf: bytes, entry_hash: str | None) -> None:
        """The largest index proven in this log, to catch a log that loses it."""
        record = self.state["logs"][key]
        newest = record.get("newest_entry")
        if newest is None or index >= newest["index"]:
            record["newest_entry"] = {"index": index, "leaf_hash": leaf.hex(), "entry_hash": entry_hash}
        self.save()


def _hashes(proof: object) -> list[bytes] | None:
    """A proof's hex hashes, or None when the answer holds no list of 32-byte hex hashes."""
    items = proof.get("hashes") if isinstance(proof, Mapping) else None
    if not isinstance(items, list):
        return None
    try:
        hashes = [bytes.fromhex(item) for item in items]
    except (TypeError, ValueError):
        return None
    return hashes if all(len(item) == 32 for item in hashes) else None


def _evidence_of(seen: Seen) -> dict[str, object]:
    return {**as_dict(seen.checkpoint), "checkpoint": seen.note, "cosignatures": list(seen.cosignatures)}
