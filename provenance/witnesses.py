"""Witnesses cosign the log's checkpoints (contract §10, C2SP tlog-witness).

    configured()                     the witnesses of LEDGER_WITNESSES, keys parsed
    quorum()                         how many cosignatures a verification needs
    cosign(checkpoint, witness)      ask one witness; store its cosignature
    gather(checkpoint, timeout=...)  ask every witness at once, wait for the quorum
    held_size(witness, checkpoint)   ask one witness the largest tree it cosigned
    has_quorum(checkpoint)           enough stored cosignatures?
    latest_with_quorum(covering=i)   the checkpoint a verification may use

Celery asks each witness separately and retries (audit.checkpoint_tasks), so a witness
that is down delays only its own cosignature; where no worker runs, the
`publish_checkpoint` command and a verification that must publish call
`gather` themselves.

Each witness is asked from the size it last cosigned for this log, as
stored here; when that is not what the witness holds (a 409), it is asked
again from the size it names (cairn_core.witness_client).
"""

from __future__ import annotations

import functools
import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from cairn_core import cosignature, signed_note, witness_client
from provenance import tlog
from provenance.models import Checkpoint, Cosignature

log = logging.getLogger(__name__)
# Seconds for one exchange with a witness.
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Witness:
    url: str
    key: cosignature.WitnessKey

    @property
    def vkey(self) -> str:
        return str(self.key)

    @property
    def name(self) -> str:
        return self.key.name


def configured() -> list[Witness]:
    """The configured witnesses (LEDGER_WITNESSES), read once per value."""
    return list(_parse(repr(settings.LEDGER_WITNESSES)))


@functools.lru_cache(maxsize=4)
def _parse(text: str) -> tuple[Witness, ...]:
    items = settings.LEDGER_WITNESSES
    if not isinstance(items, list):
        raise ImproperlyConfigured("LEDGER_WITNESSES is a JSON list of {url, vkey}")
    witnesses = []
    for number, item in enumerate(items):
        try:
            witnesses.append(Witness(str(item["url"]), cosignature.parse_vkey(str(item["vkey"]))))
        except (KeyError, TypeError, signed_note.NoteError) as exc:
            raise ImproperlyConfigured(f"LEDGER_WITNESSES[{number}] is not a witness: {exc!r}") from exc
    if len({witness.vkey for witness in witnesses}) != len(witnesses):
        raise ImproperlyConfigured("LEDGER_WITNESSES names one witness twice")
    return tuple(witnesses)


def quorum() -> int:
    """Cosignatures a checkpoint needs before a verification may use it."""
    needed = int(settings.LEDGER_WITNESS_QUORUM)
    if not 0 <= needed <= len(configured()):
        raise ImproperlyConfigured(f"LEDGER_WITNESS_QUORUM is {needed}, with {len(configured())} witnesses")
    return needed


def by_vkey(vkey: str) -> Witness:
    for witness in configured():
        if witness.vkey == vkey:
            return witness
    raise LookupError(f"no configured witness has the vkey {vkey}")


# --- asking ----------------------------------------------------------------------


def last_cosigned_size(witness: Witness) -> int | None:
    """The largest tree this witness cosigned for this log, as stored (None if none)."""
    size = Cosignature.objects.filter(witness=witness.vkey).aggregate(size=Max("checkpoint_id"))["size"]
    return None if size is None else int(size)


def cosign(checkpoint: Checkpoint, witness: Witness, *, timeout: float = REQUEST_TIMEOUT) -> Cosignature:
    """Ask `witness` to cosign `checkpoint` and store the verified line.

    Raises witness_client.WitnessUnavailable (retry later) or WitnessRefused.
    """
    stored = Cosignature.objects.filter(checkpoint=checkpoint, witness=witness.vkey).first()
    if stored is not None:
        return stored
    old_size = min(last_cosigned_size(witness) or 0, checkpoint.tree_size)
    signed = witness_client.cosign_from(
        witness.url,
        witness.key,
        checkpoint.note,
        old_size,
        functools.partial(_proof_to, checkpoint.tree_size),
        timeout=timeout,
    )
    return _store(checkpoint, witness, signed)


def held_size(witness: Witness, checkpoint: Checkpoint, *, timeout: float) -> int | None:
    """The largest tree `witness` cosigned for this log, by asking it (None: no answer).

    An add-checkpoint from `old 0`: a witness that holds a larger tree answers
    409 with its size; one that holds none cosigns `checkpoint`. The witness
    keeps this in its own state, out of reach of this log's database.
    """
    try:
        answer = witness_client.request_cosignature(witness.url, witness.key, checkpoint.note, 0, [], timeout=timeout)
    except (witness_client.WitnessUnavailable, witness_client.WitnessRefused) as exc:
        log.warning("witness %s did not say what it holds: %s", witness.name, exc)
        return None
    if isinstance(answer, witness_client.Conflict):
        return answer.size
    return checkpoint.tree_size


def _proof_to(size: int, old_size: int) -> list[bytes]:
    if old_size == 0:
        return []  # the spec: empty when the old size is zero
    try:
        return tlog.consistency_proof(old_size, size)
    except tlog.ProofError as exc:
        raise ValueError(str(exc)) from exc


def _store(checkpoint: Checkpoint, witness: Witness, signed: cosignature.Cosignature) -> Cosignature:
    try:
        with transaction.atomic():
            return Cosignature.objects.create(
                checkpoint=checkpoint,
                witness=witness.vkey,
                line=signed.line,
                timestamp=signed.timestamp,
                received_at=timezone.now(),
            )
    except IntegrityError:  # asked twice at once: the first answer is kept
        return Cosignature.objects.get(checkpoint=checkpoint, witness=witness.vkey)


def gather(checkpoint: Checkpoint, *, timeout: float | None = None) -> bool:
    """Ask every witness that has not cosigned `checkpoint`, in parallel, and
    wait up to `timeout` seconds (LEDGER_WITNESS_TIMEOUT) for the quorum.

    Only the HTTP exchanges run in threads; this thread reads the tree for
    each proof and stores each cosignature, so the request or command that
    calls this keeps one database connection and sees its own transaction.
    """
    limit = float(settings.LEDGER_WITNESS_TIMEOUT if timeout is None else timeout)
    deadline = time.monotonic() + limit
    missing = [witness for witness in configured() if not _cosigned(checkpoint, witness)]
    if has_quorum(checkpoint) or not missing:
        return has_quorum(checkpoint)
    # Not a `with` block: leaving one waits for every exchange under way.
    rounds = _Rounds(checkpoint, ThreadPoolExecutor(max_workers=len(missing), thread_name_prefix="witness"), deadline)
    try:
        for witness in missing:
            rounds.ask(witness, min(last_cosigned_size(witness) or 0, checkpoint.tree_size))
        while rounds.pending and not has_quorum(checkpoint) and time.monotonic() < deadline:
            rounds.settle(wait(rounds.pending, timeout=deadline - time.monotonic(), return_when=FIRST_COMPLETED).done)
    finally:
        rounds.abandon()
    return has_quorum(checkpoint)


class _Rounds:
    """The exchanges under way in `gather`: each answer settled in the caller's thread."""

    def __init__(self, checkpoint: Checkpoint, pool: ThreadPoolExecutor, deadline: float) -> None:
        self.checkpoint, self.pool, self.deadline = checkpoint, pool, deadline
        self.pending: dict[Future[cosignature.Cosignature | witness_client.Conflict], tuple[Witness, int]] = {}
        self.conflicts: set[str] = set()
        self.delays: dict[str, float] = {}

    def ask(self, witness: Witness, old_size: int, pause: float = 0.0) -> None:
        try:
            proof = _proof_to(self.checkpoint.tree_size, old_size)
        except ValueError as exc:
            log.error("witness %s holds size %s, which this log cannot prove: %s", witness.name, old_size, exc)
            return
        future = self.pool.submit(self._exchange, witness, old_size, proof, pause)
        self.pending[future] = (witness, old_size)

    def _exchange(
        self, witness: Witness, old_size: int, proof: list[bytes], pause: float
    ) -> cosignature.Cosignature | witness_client.Conflict:
        time.sleep(pause)
        timeout = max(0.1, min(REQUEST_TIMEOUT, self.deadline - time.monotonic()))
        note = self.checkpoint.note
        return witness_client.request_cosignature(witness.url, witness.key, note, old_size, proof, timeout=timeout)

    def settle(self, done: set[Future[cosignature.Cosignature | witness_client.Conflict]]) -> None:
        for future in done:
            witness, _old_size = self.pending.pop(future)
            try:
                answer = future.result()
            except witness_client.WitnessUnavailable as exc:
                log.warning("witness %s unavailable: %s", witness.name, exc)
                delay = self.delays[witness.vkey] = min(self.delays.get(witness.vkey, 0.1) * 2, 2.0)
                if time.monotonic() + delay < self.deadline:
                    self.ask(witness, _old_size, pause=delay)
                continue
            except witness_client.WitnessRefused as exc:
                log.error("witness %s refused checkpoint %s: %s", witness.name, self.checkpoint.tree_size, exc)
                continue
            if isinstance(answer, witness_client.Conflict):
                if witness.vkey not in self.conflicts:  # follow one 409, as cosign_from does
                    self.conflicts.add(witness.vkey)
                    self.ask(witness, answer.size)
                continue
            _store(self.checkpoint, witness, answer)

    def abandon(self) -> None:
        """Stop waiting: answers still on their way are dropped (Celery asks again)."""
        for future in self.pending:
            future.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _cosigned(checkpoint: Checkpoint, witness: Witness) -> bool:
    return Cosignature.objects.filter(checkpoint=checkpoint, witness=witness.vkey).exists()


# --- reading ---------------------------------------------------------------------


def cosignatures(checkpoint: Checkpoint) -> list[Cosignature]:
    """The stored cosignatures of configured witnesses, in configuration order."""
    rows = {row.witness: row for row in Cosignature.objects.filter(checkpoint=checkpoint)}
    return [rows[witness.vkey] for witness in configured() if witness.vkey in rows]


def has_quorum(checkpoint: Checkpoint) -> bool:
    return len(cosignatures(checkpoint)) >= quorum()


def cosigned_note(checkpoint: Checkpoint) -> str:
    """The checkpoint with its cosignatures after the ledger's line (GET /log/checkpoint)."""
    return checkpoint.note + "".join(row.line + "\n" for row in cosignatures(checkpoint))


def latest_with_quorum(*, covering: int = -1) -> Checkpoint | None:
    """The latest checkpoint that has the quorum and covers entry `covering`."""
    needed = quorum()
    candidates = Checkpoint.objects.filter(tree_size__gt=covering).order_by("-tree_size")
    if needed == 0:
        return candidates.first()
    vkeys = [witness.vkey for witness in configured()]
    for checkpoint in candidates[:50]:  # recent ones: older checkpoints are not worth waiting on
        if Cosignature.objects.filter(checkpoint=checkpoint, witness__in=vkeys).count() >= needed:
            return checkpoint
    return None


def status() -> list[dict[str, object]]:
    """GET /log/witnesses: each witness and the largest tree it cosigned."""
    return [
        {"vkey": witness.vkey, "url": witness.url, "latest_cosigned_size": last_cosigned_size(witness)}
        for witness in configured()
    ]
