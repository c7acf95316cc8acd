"""A C2SP tlog-witness (https://c2sp.org/tlog-witness), without HTTP (contract §10).

`Witness.add_checkpoint(body)` answers one `POST <prefix>/add-checkpoint`:

    body = "old " <size> "\\n"             the size this witness last cosigned
           (base64 hash "\\n"){0,63}        RFC 9162 §2.1.4 consistency proof
           "\\n"
           <signed checkpoint note>        C2SP tlog-checkpoint, any signatures

checked in the spec's order, each refusal with its status and no cosignature:

    400  a malformed body, or old size above the checkpoint's size
    404  the checkpoint's origin is not a log this witness follows
    403  no signature verifies under a trusted key of that origin
    409  old size != the size last cosigned for the origin (0 if never), with
         Content-Type text/x.tlog.size and that size as the body
    409  old size == checkpoint size but the root hashes differ
    422  the consistency proof (empty from size 0) does not verify

and otherwise 200 with the cosignature line (C2SP tlog-cosignature,
`cairn_core.cosignature`), timestamped now. A log is named by its verifier
(`cairn_core.signed_note`, type 0x01): its name is the checkpoint's origin;
several keys may be trusted for one origin.

State. A directory holds `witness.json` (the witness's name and vkey: the
directory belongs to that witness) and one JSON file per origin,
`<readable part>-<SHA-256 of the origin, 32 hex>.json`:
`{"origin", "size", "root" (base64), "checkpoint" (the note text cosigned),
"cosigned_at"}`. Each origin has a lock: the check and the update are one
step, and the new state is on disk (temporary file, fsync, rename, fsync of
the directory) before the witness answers, so it never cosigns a checkpoint
that a crash could make it forget.

A lost state would let the witness cosign a fork, so it never starts from
nothing by accident: `WitnessState.create` makes a new directory (which must
not exist, or be empty) and writes `witness.json`; `WitnessState.open`
refuses a directory that is missing, unreadable, not initialised, another
witness's, or holds a state file it cannot read. An exclusive lock file
keeps a second process off the same directory.

Evidence. A refused request whose log signature verified but whose proof
failed, or whose root conflicts with the one cosigned at that size, is kept
under `evidence/` (named by the request's SHA-256, so a retry adds nothing):
only a trusted log key can write there.

No Django, HTTP or click import: the server is `cairn_core.client.witness_server`.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core import cosignature, merkle, signed_note
from cairn_core.signed_note import Checkpoint, NoteError, Verifier

MAX_BODY = 64 * 1024
MAX_PROOF_LINES = 63
SIZE_TYPE = "text/x.tlog.size"
TEXT_TYPE = "text/plain; charset=utf-8"
MARKER = "witness.json"
LOCK = "lock"
EVIDENCE = "evidence"
_OLD = re.compile(r"\Aold (0|[1-9][0-9]{0,19})\Z")


class StateError(Exception):
    """The state directory is missing, unreadable, another witness's, or in use."""


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Request:
    """An add-checkpoint body, parsed but not yet checked."""

    old_size: int
    proof: list[bytes]
    note: str
    body: str  # the checkpoint note's signed body
    checkpoint: Checkpoint


@dataclass(frozen=True)
class Cosigned:
    """The latest checkpoint this witness cosigned for one origin."""

    origin: str
    size: int
    root: bytes
    checkpoint: str
    cosigned_at: int


class Refused(Exception):
    """A request the witness answers with an error status and no cosignature."""

    def __init__(self, status: int, message: str, content_type: str = TEXT_TYPE) -> None:
        super().__init__(message)
        self.response = Response(status, content_type, f"{message}\n".encode())


# --- the request ---------------------------------------------------------------------


def parse_request(raw: bytes) -> Request:
    """Parse an add-checkpoint body; Refused(400) when it is malformed."""
    if len(raw) > MAX_BODY:
        raise Refused(400, f"the body is larger than {MAX_BODY} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    head, separator, note = text.partition("\n\n")
    lines = head.split("\n")
    old = _OLD.match(lines[0])
    if not separator or old is None:
        raise Refused(400, "the body is `old <size>`, proof lines, an empty line and the checkpoint")
    proof = _proof(lines[1:])
    try:
        body, _ = signed_note.split_note(note)
        checkpoint = signed_note.parse_checkpoint(body)
    except NoteError as exc:
        raise Refused(400, f"malformed checkpoint: {exc}") from None
    return Request(int(old.group(1)), proof, note, body, checkpoint)


def _proof(lines: list[str]) -> list[bytes]:
    if len(lines) > MAX_PROOF_LINES:
        raise Refused(400, f"a consistency proof has at most {MAX_PROOF_LINES} lines")
    proof = []
    for line in lines:
        try:
            node = base64.b64decode(line, validate=True)
        except binascii.Error:
            node = b""
        if len(node) != 32:
            raise Refused(400, "each proof line is a base64 SHA-256 hash")
        proof.append(node)
    return proof


def _trusted(request: Request, keys: list[Verifier]) -> bool:
    """Does any trusted key of the origin sign the note? Unknown keys are ignored."""
    for verifier in keys:
        try:
            signed_note.open_note(request.note, verifier)
            return True
        except NoteError:
            continue
    return False


# --- the state directory -------------------------------------------------------------


def state_filename(origin: str) -> str:
    """A file name for an origin's state: readable, and unique by its hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", origin)[:64].lstrip(".")
    return f"{readable}-{hashlib.sha256(origin.encode('utf-8')).hexdigest()[:32]}.json"


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` durably: temp file, fsync, rename, fsync the directory."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _encode(state: Cosigned) -> bytes:
    document = {
        "origin": state.origin,
        "size": state.size,
        "root": base64.b64encode(state.root).decode("ascii"),
        "checkpoint": state.checkpoint,
        "cosigned_at": state.cosigned_at,
    }
    return (json.dumps(document, sort_keys=True, indent=2) + "\n").encode("utf-8")


def _decode(path: Path, origin: str) -> Cosigned:
    try:
        document = json.loads(path.read_bytes())
        state = Cosigned(
            origin=document["origin"],
            size=int(document["size"]),
            root=base64.b64decode(document["root"], validate=True),
            checkpoint=str(document["checkpoint"]),
            cosigned_at=int(document["cosigned_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(f"cannot read the state file {path}: {exc}") from exc
    if state.origin != origin or state.size < 0 or len(state.root) != 32:
        raise StateError(f"the state file {path} is not the state of {origin!r}")
    return state


class WitnessState:
    """The state directory: the latest cosigned checkpoint of each followed origin."""

    def __init__(self, directory: Path, lock_file: IO[bytes], states: dict[str, Cosigned | None]) -> None:
        self.directory = directory
        self._lock_file = lock_file  # held open: the flock lasts as long as this object
        self._states = states
        # One lock per origin, made up front (the origins are known): the
        # check against the latest state and its update are one step, so two
        # requests can never both extend one size, nor roll the state back.
        self.locks = {origin: threading.Lock() for origin in states}

    @classmethod
    def create(cls, directory: str | os.PathLike[str], identity: str, origins: Iterable[str]) -> WitnessState:
        """Initialise a new state directory for the witness with vkey `identity`."""
        path = Path(directory)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise StateError(f"{path} exists and is not an empty directory: start without --init")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        marker = {"vkey": identity, "created_at": int(time.time())}
        write_atomically(path / MARKER, (json.dumps(marker, sort_keys=True) + "\n").encode())
        return cls.open(path, identity, origins)

    @classmethod
    def open(cls, directory: str | os.PathLike[str], identity: str, origins: Iterable[str]) -> WitnessState:
        """Open an initialised state directory; StateError rather than forget anything."""
        path = Path(directory)
        if not path.is_dir():
            raise StateError(f"the state directory {path} does not exist: give --init to create it")
        if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
            raise StateError(f"the state directory {path} is not readable and writable")
        found = owner_of(path)
        if found != identity:
            raise StateError(f"the state directory {path} belongs to the witness {found}, not {identity}")
        lock_file = _lock(path)
        (path / EVIDENCE).mkdir(mode=0o700, exist_ok=True)
        states = {origin: cls._read(path, origin) for origin in origins}
        return cls(path, lock_file, states)

    @staticmethod
    def _read(path: Path, origin: str) -> Cosigned | None:
        file = path / state_filename(origin)
        return _decode(file, origin) if file.exists() else None

    def latest(self, origin: str) -> Cosigned | None:
        return self._states[origin]

    def save(self, state: Cosigned) -> None:
        """Persist, then remember: the caller holds the origin's lock."""
        write_atomically(self.directory / state_filename(state.origin), _encode(state))
        self._states[state.origin] = state

    def keep_evidence(self, origin: str, reason: str, raw: bytes) -> Path:
        digest = hashlib.sha256(raw).hexdigest()
        path = self.directory / EVIDENCE / f"{state_filename(origin)[:-5]}-{digest[:32]}.json"
        if not path.exists():
            document = {"origin": origin, "reason": reason, "received_at": int(time.time())}
            document["request"] = raw.decode("utf-8")
            write_atomically(path, (json.dumps(document, sort_keys=True, indent=2) + "\n").encode())
        return path

    def close(self) -> None:
        self._lock_file.close()


def owner_of(directory: Path) -> str:
    """The vkey named by a state directory's witness.json."""
    try:
        return str(json.loads((directory / MARKER).read_bytes())["vkey"])
    except FileNotFoundError:
        raise StateError(f"{directory} is not a witness state directory (no {MARKER}): give --init") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(f"cannot read {directory / MARKER}: {exc}") from exc


def _lock(directory: Path) -> IO[bytes]:
    handle = open(directory / LOCK, "ab")  # noqa: SIM115 -- held for the witness's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StateError(f"another witness is running on {directory}") from None
    return handle


# --- the witness ---------------------------------------------------------------------


class Witness:
    """Checks and cosigns checkpoints of the logs it follows."""

    def __init__(
        self,
        name: str,
        private_key: Ed25519PrivateKey,
        logs: Iterable[Verifier],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name, self.private_key, self.state, self.clock = name, private_key, state, clock
        self.vkey = cosignature.vkey(name, cosignature.public_key_of(private_key))
        self.logs: dict[str, list[Verifier]] = {}
        for verifier in logs:
            self.logs.setdefault(verifier.name, []).append(verifier)
        if not set(self.logs) <= set(state.locks):
            raise ValueError("the state was opened without some of the witness's logs")

    def add_checkpoint(self, raw: bytes) -> Response:
        """The answer to one add-checkpoint request body."""
        try:
            request = parse_request(raw)
            origin = request.checkpoint.origin
            if origin not in self.logs:
                raise Refused(404, f"this witness does not follow the log {origin!r}")
            if not _trusted(request, self.logs[origin]):
                raise Refused(403, f"no signature by a trusted key of {origin!r} verifies")
            if request.old_size > request.checkpoint.tree_size:
                raise Refused(400, "the old size is above the checkpoint's size")
            with self.state.locks[origin]:
                line = self._check_and_cosign(request, raw)
        except Refused as refusal:
            return refusal.response
        return Response(200, TEXT_TYPE, f"{line}\n".encode())

    def _check_and_cosign(self, request: Request, raw: bytes) -> str:
        """Under the origin's lock: check against the latest state, persist, cosign."""
        checkpoint = request.checkpoint
        latest = self.state.latest(checkpoint.origin)
        latest_size = latest.size if latest else 0
        latest_root = latest.root if latest else merkle.EMPTY_ROOT
        if request.old_size != latest_size:
            raise Refused(409, f"{latest_size}", SIZE_TYPE)
        if checkpoint.tree_size == latest_size and checkpoint.root_hash != latest_root:
            self.state.keep_evidence(checkpoint.origin, "conflicting root", raw)
            raise Refused(409, f"a checkpoint of size {latest_size} with another root was cosigned")
        if not merkle.verify_consistency(
            latest_size, checkpoint.tree_size, latest_root, checkpoint.root_hash, request.proof
        ):
            self.state.keep_evidence(checkpoint.origin, "consistency proof does not verify", raw)
            raise Refused(422, f"the consistency proof from size {latest_size} does not verify")
        now = int(self.clock())
        if latest is None or checkpoint.tree_size > latest_size:
            self.state.save(Cosigned(checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash, request.note, now))
        return cosignature.cosign(request.body, self.name, self.private_key, now)
