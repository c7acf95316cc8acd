"""`cairn prove`: an entry's inclusion, and the supplier as a light witness.

Each call fetches the log's latest checkpoint and verifies its signature
under the log's key, then the entry's inclusion proof against its root.
The key is pinned per server on first use (or given), and the largest
checkpoint seen of each log is kept in a local state file. Every later call
also fetches a consistency proof between the checkpoint kept and the one
served (RFC 9162 §2.1.4): when it does not verify, or two checkpoints of one
size have different roots, the log was rewritten or forked behind this
supplier's back, and ForkDetected names both checkpoints.

The state file is JSON: `{"pins": {url: verifier}, "logs": {verifier:
{"checkpoint": text, "url", "seen_at"}}}`, written atomically.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import TypedDict, overload

from cairn_core import merkle, signed_note, tlog_proof
from cairn_core.client import statements
from cairn_core.client.api import Client
from cairn_core.client.wire import CheckpointSummary, Proven


class WitnessError(Exception):
    """The log could not be proven: a bad signature or proof, a changed key."""


class NotCovered(WitnessError):
    """The latest checkpoint does not cover the entry yet."""


class ForkDetected(WitnessError):
    """Two checkpoints of one log that no append-only log can both have signed."""

    def __init__(self, reason: str, kept: signed_note.Checkpoint, served: signed_note.Checkpoint) -> None:
        super().__init__(
            f"the log was rewritten or forked: {reason}.\n"
            f"  checkpoint seen before: {describe(kept)}\n"
            f"  checkpoint served now:  {describe(served)}"
        )
        self.kept, self.served = kept, served


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


class LogRecord(TypedDict):
    checkpoint: str  # the signed checkpoint's text
    url: str
    seen_at: str


class State(TypedDict):
    """The state file."""

    pins: dict[str, str]  # server url: log verifier
    logs: dict[str, LogRecord]  # log verifier: its largest checkpoint seen


class Witness:
    """The state file: pinned log keys and the last checkpoint of each log."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, log_key: str | None = None) -> None:
        self.path = Path(path) if path else default_state_path()
        self.given_key = log_key
        self.state: State
        try:
            self.state = json.loads(self.path.read_text())
        except FileNotFoundError:
            self.state = {"pins": {}, "logs": {}}
        except (OSError, ValueError) as exc:
            raise WitnessError(f"cannot read the witness state {self.path}: {exc}") from exc
        self.state.setdefault("pins", {})
        self.state.setdefault("logs", {})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.state, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, self.path)

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
            served = client.log_key()["verifier"]
            if served != pinned:
                raise WitnessError(
                    f"the log's key changed: {client.url} now gives {served}, but {pinned} was pinned on first use; "
                    "if the operator rotated it, give the new one with --log-key"
                )
        else:
            chosen = client.log_key()["verifier"]
        try:
            verifier = signed_note.parse_verifier(chosen)
        except signed_note.NoteError as exc:
            raise WitnessError(f"bad log key {chosen!r}: {exc}") from exc
        self.state["pins"][client.url] = chosen
        return verifier

    # --- proving --------------------------------------------------------------

    def prove(self, client: Client, index: int, *, wait: float = 0) -> Proven:
        """Verify entry `index` under the latest checkpoint, then the log's
        consistency with the checkpoint kept; keep the larger one."""
        verifier = self.verifier_for(client)
        key = str(verifier)
        deadline = time.monotonic() + wait
        while True:
            text = client.checkpoint()
            served = self._open(text, verifier)
            if index < served.tree_size:
                break
            if time.monotonic() >= deadline:
                raise NotCovered(
                    f"entry {index} is not in the latest checkpoint yet ({describe(served)}); "
                    "checkpoints are published every minute: try again, or give --wait SECONDS"
                )
            time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
        leaf = self._leaf_hash(client, index) if client.token else None
        proof = client.inclusion_proof(index, served.tree_size)
        if leaf is None:  # not allowed to read the entry: the proof's leaf hash
            leaf = bytes.fromhex(proof["leaf_hash"])
        elif proof.get("leaf_hash") != leaf.hex():
            raise WitnessError(f"the server's leaf hash for entry {index} is not the hash of the entry it serves")
        hashes = [bytes.fromhex(item) for item in proof["hashes"]]
        if not merkle.verify_inclusion(index, served.tree_size, leaf, hashes, served.root_hash):
            raise WitnessError(f"the inclusion proof of entry {index} does not lead to the root of {describe(served)}")
        kept = self.kept(key, verifier)
        kept_after = self._check_consistency(client, kept, served)
        if kept_after is served:
            self.state["logs"][key] = {
                "checkpoint": text,
                "url": client.url,
                "seen_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        self.save()
        return {
            "index": index,
            "leaf_hash": leaf.hex(),
            "checkpoint": as_dict(served),
            "previous": as_dict(kept),
            "consistent_with_previous": kept is not None,
            "log_key": key,
            "proof": tlog_proof.format_proof(index, hashes, text),
        }

    def kept(self, key: str, verifier: signed_note.Verifier) -> signed_note.Checkpoint | None:
        record = self.state["logs"].get(key)
        return self._open(record["checkpoint"], verifier) if record else None

    @staticmethod
    def _open(text: str, verifier: signed_note.Verifier) -> signed_note.Checkpoint:
        try:
            return signed_note.open_checkpoint(text, verifier)
        except signed_note.NoteError as exc:
            raise WitnessError(f"the checkpoint does not verify under the log key: {exc}") from exc

    @staticmethod
    def _leaf_hash(client: Client, index: int) -> bytes:
        """The entry's leaf hash, computed here from the envelope and time the server serves."""
        entry = client.entry(index)
        leaf = merkle.leaf_hash(statements.leaf_input(entry["envelope"], entry["integrated_time"]))
        if leaf.hex() != entry["leaf_hash"]:
            raise WitnessError(f"entry {index}'s leaf hash is not the hash of its envelope and integrated time")
        return leaf

    @staticmethod
    def _check_consistency(
        client: Client, kept: signed_note.Checkpoint | None, served: signed_note.Checkpoint
    ) -> signed_note.Checkpoint:
        """The checkpoint to keep: the larger one, once the two are proven consistent."""
        if kept is None:
            return served
        if kept.origin != served.origin:
            raise ForkDetected("the two checkpoints name different logs", kept, served)
        if kept.tree_size == served.tree_size:
            if kept.root_hash != served.root_hash:
                raise ForkDetected("two checkpoints of the same size have different roots", kept, served)
            return kept
        small, large = sorted((kept, served), key=lambda c: c.tree_size)
        try:
            proof = client.consistency_proof(small.tree_size, large.tree_size)
        except Exception as exc:  # a log that shrank cannot prove anything
            code = getattr(exc, "code", type(exc).__name__)
            raise ForkDetected(f"the server cannot prove the two consistent ({code}: {exc})", kept, served) from exc
        hashes = [bytes.fromhex(item) for item in proof["hashes"]]
        if not merkle.verify_consistency(small.tree_size, large.tree_size, small.root_hash, large.root_hash, hashes):
            raise ForkDetected("the consistency proof between them does not verify", kept, served)
        return large
