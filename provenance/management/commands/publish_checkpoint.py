"""`manage.py publish_checkpoint`: sign and store a checkpoint of the current tree (§7).

Prints the checkpoint note. Publishing twice for the same tree size prints
the existing checkpoint; an empty log is signed as the tree of size 0.

With witnesses configured (LEDGER_WITNESSES, contract §10) it then submits
the checkpoint to each of them itself, so that nothing waits on a Celery
worker, and exits 0 once LEDGER_WITNESS_QUORUM have cosigned, 1 when they
have not within LEDGER_WITNESS_TIMEOUT seconds (the checkpoint stays
published, and Celery keeps asking). The printed note carries the
cosignatures gathered.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from provenance import checkpoints, witnesses


class Command(BaseCommand):
    help = "Sign and store a C2SP checkpoint of the current Merkle tree, and gather the witnesses' cosignatures."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=None, help="Seconds to wait for the quorum.")

    def handle(self, *args, **options):
        try:
            checkpoint = checkpoints.publish_checkpoint()
        except checkpoints.CheckpointRefused as exc:
            raise CommandError(f"checkpoint refused: {exc}") from exc
        reached = witnesses.gather(checkpoint, timeout=options["timeout"])
        self.stdout.write(witnesses.cosigned_note(checkpoint), ending="")
        if not reached:
            have, need = len(witnesses.cosignatures(checkpoint)), witnesses.quorum()
            raise CommandError(f"checkpoint {checkpoint.tree_size} has {have} of the {need} cosignatures it needs")
