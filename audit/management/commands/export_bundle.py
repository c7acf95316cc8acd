"""manage.py export_bundle VIN [-o FILE]: the proof bundle of the claim's latest verification."""

from __future__ import annotations

import gzip
import sys

from django.core.management.base import BaseCommand, CommandError

from audit import bundle
from cairn_core.regimes.s30d import bundle as bundle_30d
from provenance.errors import LedgerError


class Command(BaseCommand):
    help = "Write the proof bundle (contract §8) of the claim's latest verification; check it with cairn-verify."

    def add_arguments(self, parser):
        parser.add_argument("vin")
        parser.add_argument(
            "-o",
            "--output",
            help="file to write (default <VIN>.<verification id>.cairn-bundle.json; - for stdout); "
            "a name ending in .gz is compressed",
        )

    def handle(self, *args, vin: str, output: str | None, **options):
        try:
            verification = bundle.latest_verification(vin)
            data = bundle.dumps(bundle.build_bundle(verification))
        except LedgerError as exc:
            raise CommandError(exc.message) from exc
        if output == "-":
            sys.stdout.buffer.write(data)
            return
        path = output or bundle_30d.file_name(vin, verification.pk)
        if path.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        with open(path, "wb") as handle:
            handle.write(data)
        self.stderr.write(f"wrote {path}: verification {verification.pk}, {len(data):,} bytes")
