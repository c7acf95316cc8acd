"""C2SP tlog-proof@v1: an offline-verifiable proof that an entry is in a log.

https://c2sp.org/tlog-proof. The text is, line by line:

    c2sp.org/tlog-proof@v1
    extra <base64>                  optional, opaque, unauthenticated
    index <decimal, no leading 0>
    <base64 hash>                   zero or more: the RFC 9162 §2.1.3
    ...                             inclusion path, leaf's sibling first
    <empty line>
    <the checkpoint, verbatim>      a C2SP tlog-checkpoint signed note

`format_proof` writes it (Cairn writes no `extra` line), `parse_proof`
reads it strictly, and `verify_proof` checks the checkpoint's signature and
that the path leads from a leaf hash at `index` to its root.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cairn_core import merkle, signed_note

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"\Aindex (0|[1-9][0-9]{0,19})\Z")  # a uint64: at most 20 digits


class ProofError(ValueError):
    """Not a tlog-proof@v1 text, or a proof that does not verify."""


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str  # the signed note, verbatim
    extra: bytes | None = None


def format_proof(index: int, hashes: list[bytes] | tuple[bytes, ...], checkpoint: str) -> str:
    """The proof text for `index` with inclusion path `hashes` under `checkpoint`."""
    if index < 0 or any(len(item) != 32 for item in hashes):
        raise ProofError("an index is non-negative and each hash is 32 bytes")
    lines = [HEADER, f"index {index}", *(base64.b64encode(item).decode("ascii") for item in hashes)]
    return "\n".join(lines) + "\n\n" + checkpoint


def parse_proof(text: object) -> TlogProof:
    """Read a proof text; ProofError names the first line that is wrong."""
    if not isinstance(text, str):
        raise ProofError("a proof is text")
    head, separator, checkpoint = text.partition("\n\n")
    if not separator or not checkpoint:
        raise ProofError("no empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise ProofError(f"the first line is not {HEADER}")
    position = 1
    extra = None
    if position < len(lines) and lines[position].startswith("extra "):
        extra = _base64(lines[position][len("extra ") :], "the extra line")
        position += 1
    match = _INDEX.match(lines[position]) if position < len(lines) else None
    if match is None:
        raise ProofError("no `index N` line (decimal, no leading zeroes, at most 20 digits)")
    hashes = []
    for number, line in enumerate(lines[position + 1 :], start=position + 2):
        try:
            # strict_mode: the standard alphabet with padding and nothing else.
            raw = binascii.a2b_base64(line, strict_mode=True)
        except binascii.Error:
            raw = b""
        if len(raw) != 32:
            raise ProofError(f"line {number} is not one base64 SHA-256 hash")
        hashes.append(raw)
    return TlogProof(int(match.group(1)), tuple(hashes), checkpoint, extra)


def _base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ProofError(f"{what} is not base64") from exc


def verify_proof(
    proof: TlogProof, leaf_hash: bytes, verifier: signed_note.Verifier, origin: str | None = None
) -> signed_note.Checkpoint:
    """The checkpoint, when it is signed by `verifier` and includes `leaf_hash` at the proof's index."""
    try:
        checkpoint = signed_note.open_checkpoint(proof.checkpoint, verifier, origin)
    except signed_note.NoteError as exc:
        raise ProofError(f"checkpoint: {exc}") from exc
    check_inclusion(proof, leaf_hash, checkpoint)
    return checkpoint


def check_inclusion(proof: TlogProof, leaf_hash: bytes, checkpoint: signed_note.Checkpoint) -> None:
    """The path leads from `leaf_hash` at the proof's index to the (already verified) checkpoint's root."""
    if proof.index >= checkpoint.tree_size:
        raise ProofError(f"index {proof.index} is beyond the checkpoint's tree size {checkpoint.tree_size}")
    try:
        root = merkle.root_from_inclusion_proof(proof.index, checkpoint.tree_size, leaf_hash, list(proof.hashes))
    except ValueError as exc:
        raise ProofError(f"inclusion path: {exc}") from exc
    if root != checkpoint.root_hash:
        raise ProofError(f"the inclusion path does not lead to the root of checkpoint {checkpoint.tree_size}")
