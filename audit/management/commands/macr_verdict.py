"""manage.py macr_verdict BATCH --year Y [--sold-year Y] [--store] [--bundle FILE]: a component
batch's §45X material assistance verdict, as JSON (audit.macr; docs/contract-45x.md §4)."""

from __future__ import annotations

import gzip
import json
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from audit import macr, macr_bundle
from audit.bundle import dumps
from audit.models import MacrVerification
from cairn_core.regimes.s45x import bundle as s45x_bundle
from provenance.errors import LedgerError
from provenance.models import Batch, Organization


class Command(BaseCommand):
    help = (
        "Compute the §45X verdict of BATCH for the taxable year --year (with --sold-year: as if the batch "
        "were sold that year) and print it as JSON. Without --store it is the unsigned preview; with --store "
        "it is stored, signed by the ledger key and logged. --bundle FILE writes the proof bundle of the "
        "verification stored (with --store) or else of the latest stored for the same batch and years, "
        "and prints that verification."
    )

    def add_arguments(self, parser):
        parser.add_argument("batch")
        parser.add_argument("--year", type=int, required=True, help="The taxable year.")
        parser.add_argument("--sold-year", type=int, help="What if the batch were sold that year.")
        parser.add_argument("--store", action="store_true", help="Store the verdict, signed and logged.")
        parser.add_argument(
            "--bundle",
            metavar="FILE",
            help="Write the stored verification's proof bundle (- for stdout; a name ending in .gz is compressed; "
            "in a directory, the file <batch>.<year>.<id>.cairn-bundle.json).",
        )
        parser.add_argument(
            "--organization",
            help="With --store: the organisation the verdict names as requested_by (default: the ledger's one "
            "auditor organisation); the user is null for a command.",
        )

    def handle(self, *args, batch, year, sold_year, store, bundle, organization, **options):
        found = Batch.objects.filter(id=batch).first()
        if found is None:
            raise CommandError(f"no batch {batch}")
        try:
            if store:
                verification = macr.store_verification(
                    found, year, sold_year, requested_by=None, organization=_organization(organization)
                )
            elif bundle:
                verification = _latest(found, year, sold_year)
            else:
                verification = None
            document = (
                verification.as_verdict() if verification else macr.macr_verdict(found, year, sold_year=sold_year)
            )
            if bundle and verification is not None:
                self._write(bundle, verification)
        except LedgerError as exc:
            raise CommandError(exc.message) from exc
        if bundle != "-":
            self.stdout.write(json.dumps(document, indent=2, sort_keys=True))

    def _write(self, output: str, verification: MacrVerification) -> None:
        data = dumps(macr_bundle.build_bundle(verification))
        if output == "-":
            sys.stdout.buffer.write(data)
            return
        name = s45x_bundle.file_name(verification.batch_id, verification.taxable_year, verification.pk)
        path = os.path.join(output, name) if os.path.isdir(output) else output
        if path.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        with open(path, "wb") as handle:
            handle.write(data)
        self.stderr.write(f"wrote {path}")


def _organization(slug: str | None) -> Organization | None:
    if slug is None:
        return None
    found = Organization.objects.filter(slug=slug).first()
    if found is None:
        raise CommandError(f"no organisation {slug}")
    return found


def _latest(batch: Batch, year: int, sold_year: int | None) -> MacrVerification:
    found = (
        MacrVerification.objects.filter(batch=batch, taxable_year=year, sold_year=sold_year)
        .order_by("-requested_at", "-id")
        .first()
    )
    if found is None:
        raise CommandError(f"no stored §45X verification of {batch.id} for {year}: run with --store first")
    return found
