"""`manage.py publish_checkpoint`: sign and store a checkpoint of the current tree (§7).

Prints the checkpoint note. Publishing twice for the same tree size prints
the existing checkpoint; an empty log has none.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from provenance import checkpoints


class Command(BaseCommand):
    help = "Sign and store a C2SP checkpoint of the current Merkle tree."

    def handle(self, *args, **options):
        try:
            checkpoint = checkpoints.publish_checkpoint()
        except checkpoints.CheckpointRefused as exc:
            raise CommandError(f"checkpoint refused: {exc}") from exc
        if checkpoint is None:
            raise CommandError("the log is empty: there is nothing to sign yet")
        self.stdout.write(checkpoint.note, ending="")
