"""manage.py export_epcis BATCH_ID [-o FILE]: the batch's upstream DAG as EPCIS 2.0 (contract §11)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cairn_core import epcis as mapping
from provenance import epcis
from provenance.models import Batch


class Command(BaseCommand):
    help = "Write the EPCIS 2.0 JSON-LD document of a batch's upstream DAG, every event with its log entry."

    def add_arguments(self, parser):
        parser.add_argument("batch_id")
        parser.add_argument("-o", "--output", help="file to write (default: standard output)")

    def handle(self, *args, batch_id: str, output: str | None, **options):
        batch = Batch.objects.filter(id=batch_id).first()
        if batch is None:
            raise CommandError(f"No batch {batch_id}.")
        text = mapping.dumps(epcis.export(batch), indent=2) + "\n"
        if output in (None, "-"):
            self.stdout.write(text, ending="")
            return
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
