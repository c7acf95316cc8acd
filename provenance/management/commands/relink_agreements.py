"""Recompute the links from ledger entries to agreements after rule changes."""

from django.core.management.base import BaseCommand

from agreements.snapshot import load_ruleset
from provenance.linking import relink


class Command(BaseCommand):
    help = (
        "Recompute which agreements make each origin and transform entry's country count. "
        "Entries never change; only their links do."
    )

    def handle(self, *args, **options):
        ruleset = load_ruleset()
        result = relink(ruleset=ruleset)
        self.stdout.write(
            f"{result.entries} entries relinked under {ruleset.version}: "
            f"{result.kept} links kept, {result.added} added, {result.removed} removed"
        )
