"""Print a component batch's §45X material assistance verdict for a taxable year, as JSON."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from audit import macr
from provenance.errors import LedgerError
from provenance.models import Batch


class Command(BaseCommand):
    help = (
        "Compute the §45X verdict of BATCH for the taxable year --year (with --sold-year: as if the batch "
        "were sold that year) and print it as JSON. It is not stored or signed."
    )

    def add_arguments(self, parser):
        parser.add_argument("batch")
        parser.add_argument("--year", type=int, required=True, help="The taxable year.")
        parser.add_argument("--sold-year", type=int, help="What if the batch were sold that year.")

    def handle(self, *args, batch, year, sold_year, **options):
        found = Batch.objects.filter(id=batch).first()
        if found is None:
            raise CommandError(f"no batch {batch}")
        try:
            document = macr.macr_verdict(found, year, sold_year=sold_year)
        except LedgerError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(document, indent=2, sort_keys=True))
