"""`manage.py publish_checkpoint`: sign and store a checkpoint of the current tree (§7).

Prints the checkpoint note. Publishing twice for the same tree size prints
the existing checkpoint; an empty log is signed as the tree of size 0.
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
        self.stdout.write(checkpoint.note, ending="")
