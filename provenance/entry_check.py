"""One stored entry checked as its admin page shows it.

The page shows an entry's payload decoded from the stored envelope; it may
call it signed only when it is: the stored bytes must give the stored leaf
and entry hashes, every signature must verify over them by a key valid when
logged (the ledger key for a ledger entry), and the recomputed leaf must be
in the latest signed checkpoint that covers the entry (an RFC 9162
inclusion proof from the stored tree, against the checkpoint's signed
root). The checks are cairn_core.entries', shared with every verifier.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cairn_core import merkle
from cairn_core.entries import Key, StoredEntry, check_ledger_signature, check_signatures, check_stored
from cairn_core.problems import Code, Problem
from provenance import checkpoints, ledger_key, tlog
from provenance.keys import verifying_keys
from provenance.models import Checkpoint, Entry


@dataclass(frozen=True)
class EntryCheck:
    """What checking the entry found now; `checkpoint`: the size it was proven under, if any."""

    problems: list[Problem]
    checkpoint: int | None

    @property
    def verified(self) -> bool:
        return not self.problems and self.checkpoint is not None


def check_entry(entry: Entry) -> EntryCheck:
    stored = StoredEntry(
        entry.index,
        entry.entry_hash,
        entry.envelope,
        entry.integrated_time,
        entry.leaf_hash,
        entry.type,
        entry.issuer_id,
        entry.statement,
    )
    checked = check_stored(stored)
    problems = list(checked.problems)
    decoded = checked.decoded
    if decoded is not None and decoded.is_ledger_entry:
        key = ledger_key.current()
        verifier = Key.of(key.public_key, "", dt.datetime.fromtimestamp(0, dt.UTC), None)
        problems += check_ledger_signature(entry.index, decoded, verifier, key.keyid)
    elif decoded is not None:
        problems += check_signatures(
            entry.index, entry.integrated_time, decoded, lambda keyid: verifying_keys([keyid]).get(keyid)
        )
    size, inclusion = _inclusion(entry.index, checked.leaf)
    return EntryCheck(problems + inclusion, size)


def _inclusion(index: int, leaf: bytes) -> tuple[int | None, list[Problem]]:
    checkpoint = Checkpoint.objects.filter(tree_size__gt=index).order_by("-tree_size").first()
    if checkpoint is None:
        return None, []
    fault = checkpoints.verify_note(checkpoint)
    if fault:
        return checkpoint.tree_size, [Problem(index, Code.CHECKPOINT_SIGNATURE, fault)]
    try:
        proof = tlog.inclusion_proof(index, checkpoint.tree_size)
    except (tlog.TreeIncomplete, tlog.ProofError) as exc:
        return checkpoint.tree_size, [Problem(index, Code.INCLUSION, f"no inclusion proof: {exc}")]
    if not merkle.verify_inclusion(
        index, checkpoint.tree_size, leaf, proof.hashes, bytes.fromhex(checkpoint.root_hash)
    ):
        message = f"its bytes are not in checkpoint {checkpoint.tree_size}'s signed tree"
        return checkpoint.tree_size, [Problem(index, Code.INCLUSION, message)]
    return checkpoint.tree_size, []
