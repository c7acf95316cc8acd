"""Celery tasks publishing the log's checkpoints and asking the witnesses
to cosign them (contract §10): thin adapters over provenance.checkpoints
and provenance.witnesses.

They live in audit, not beside those modules in provenance, because each
first runs audit's watchdog and a witness's refusal is an audit incident.
Their Celery names (`audit.publish_checkpoint`, `audit.cosign_checkpoint`)
are those the beat schedule's rows and the docs name. Each is harmless if
delivered twice: publishing is idempotent for an unchanged tree, and a
cosignature is stored once.
"""

from __future__ import annotations

from celery import shared_task

from audit import incidents, watchdog
from cairn_core.problems import Code, Problem
from cairn_core.witness_client import WitnessRefused, WitnessUnavailable
from provenance import checkpoints, witnesses
from provenance.models import Checkpoint


@shared_task(name="audit.publish_checkpoint")
def publish_checkpoint() -> int:
    """Sign a checkpoint when the tree has grown (or of the empty tree at the
    start), then ask each witness for its cosignature; returns its tree size.
    The watchdog runs first: a rollback of the latest row is seen before a
    checkpoint is published again."""
    watchdog.watch_safely(detected_by="watchdog")
    checkpoint = checkpoints.publish_checkpoint()
    ask_witnesses(checkpoint)
    return checkpoint.tree_size


def ask_witnesses(checkpoint: Checkpoint) -> None:
    """One task per witness that has not cosigned: a witness that is down
    delays only its own cosignature (contract §10)."""
    cosigned = set(checkpoint.cosignatures.values_list("witness", flat=True))
    for witness in witnesses.configured():
        if witness.vkey not in cosigned:
            cosign_checkpoint.delay(checkpoint.tree_size, witness.vkey)


@shared_task(
    name="audit.cosign_checkpoint",
    autoretry_for=(WitnessUnavailable,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=10,
)
def cosign_checkpoint(tree_size: int, vkey: str) -> int:
    """Ask one witness to cosign the checkpoint of `tree_size`; retried while
    the witness is unavailable. A witness that refuses is logged, not retried:
    the next checkpoint asks it again. Returns the cosignature's timestamp."""
    checkpoint = Checkpoint.objects.get(tree_size=tree_size)
    try:
        witness = witnesses.by_vkey(vkey)
    except LookupError:  # no longer configured
        return 0
    try:
        return witnesses.cosign(checkpoint, witness).timestamp
    except WitnessRefused as exc:
        # A witness that holds another history of this log (409, 422) has
        # seen a fork or a rollback; any refusal stops the quorum.
        message = f"witness {witness.name} refused checkpoint {tree_size}: {exc}"
        incidents.record_problems([Problem(max(tree_size - 1, 0), Code.WITNESS, message)], detected_by="witness")
        return 0
