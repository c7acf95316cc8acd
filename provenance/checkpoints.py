"""Publishing signed checkpoints (C2SP tlog-checkpoint, contract §4).

A checkpoint is published only after a consistency proof (RFC 9162 §2.1.4),
built from the stored tree, shows that the new tree extends the tree of the
previous checkpoint: a log that was rewritten below a signed checkpoint
refuses to sign again instead of publishing a fork.
"""

from __future__ import annotations

import base64

from django.db import IntegrityError, transaction
from django.utils import timezone

from cairn_core import merkle, signed_note
from provenance import ledger_key, marks, tlog
from provenance.models import Checkpoint, LogState


class CheckpointRefused(RuntimeError):
    """The current tree does not extend the last checkpoint: nothing is signed."""


def latest() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-tree_size").first()


def publish_checkpoint() -> Checkpoint:
    """Sign and store a checkpoint of the current tree, the empty tree
    included (size 0, root SHA-256 of nothing: contract §7).

    Idempotent: when the tree has not grown the latest checkpoint is returned.
    After commit, the checkpoint mark outside the database is raised to it
    (provenance.marks): a later rollback of the rows shows against it.
    """
    try:
        with transaction.atomic():
            published = _publish_locked()
    except IntegrityError:
        # Another publisher stored this very size between our read and insert.
        found = latest()
        if found is None:  # not that conflict: there is no checkpoint at all
            raise
        published = found
    mark = marks.Mark(published.tree_size, root=published.root_hash)
    transaction.on_commit(lambda: marks.raise_to("checkpoint", mark))
    return published


def _publish_locked() -> Checkpoint:
    # Lock the log tail: size and frontier are read as one snapshot, appends
    # wait only for the proof and the signature, and publishers queue here
    # so that checkpoints are signed in tree-size order.
    state = LogState.objects.select_for_update().filter(id=1).first()
    if state is None:
        state = LogState.objects.select_for_update().get_or_create(id=1)[0]
    previous = latest()
    if previous is not None and previous.tree_size == state.size:
        return previous
    root = merkle.root_from_frontier([bytes.fromhex(item) for item in state.frontier])
    if tlog.root_at(state.size, log_size=state.size) != root:
        raise CheckpointRefused("the stored tree's nodes disagree with the log's frontier")
    if previous is not None:
        _check_extends(previous, state.size, root)
    note = ledger_key.sign_checkpoint(state.size, root)
    return Checkpoint.objects.create(tree_size=state.size, root_hash=root.hex(), note=note, published_at=timezone.now())


def _check_extends(previous: Checkpoint, size: int, root: bytes) -> None:
    if previous.tree_size > size:
        raise CheckpointRefused(f"the log has {size} entries but checkpoint {previous.tree_size} was signed")
    proof = tlog.consistency_proof(previous.tree_size, size, log_size=size)
    old_root = bytes.fromhex(previous.root_hash)
    if not merkle.verify_consistency(previous.tree_size, size, old_root, root, proof):
        raise CheckpointRefused(f"the tree of size {size} is not consistent with checkpoint {previous.tree_size}")


def verify_note(checkpoint: Checkpoint) -> str | None:
    """None when the stored note is a valid signature by the ledger key over
    this row's size and root; otherwise what is wrong."""
    key = ledger_key.current()
    verifier = signed_note.parse_verifier(key.verifier)
    try:
        signed = signed_note.open_checkpoint(checkpoint.note, verifier)
    except signed_note.NoteError as exc:
        return f"checkpoint {checkpoint.tree_size}: {exc}"
    if signed.tree_size != checkpoint.tree_size or signed.root_hash.hex() != checkpoint.root_hash:
        root = base64.b64encode(signed.root_hash).decode()
        return (
            f"checkpoint {checkpoint.tree_size}: the signed note says size {signed.tree_size}, "
            f"root {root}, not the stored row"
        )
    return None


def inclusion_in_latest(index: int) -> dict[str, object] | None:
    """The proof that entry `index` is in the latest checkpoint, when it covers it.

    {"checkpoint": <note>, "inclusion_proof": <GET /log/proof/inclusion body>},
    or None before a checkpoint covers the entry (clients then poll
    /log/checkpoint and ask /log/proof/inclusion).
    """
    checkpoint = latest()
    if checkpoint is None or checkpoint.tree_size <= index:
        return None
    proof = tlog.inclusion_proof(index, checkpoint.tree_size, log_size=checkpoint.tree_size)
    return {"checkpoint": checkpoint.note, "inclusion_proof": proof.as_json()}
