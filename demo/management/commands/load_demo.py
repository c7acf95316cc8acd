"""python manage.py load_demo [--reset] [--verify]: the demo supply chain of `make demo`."""

from __future__ import annotations

import shlex
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from demo import data as demo
from provenance import ledger_key

WAIT_SECONDS = 60.0
# After the server answers, for the Celery worker and beat started beside it
# to print their own start-up warnings first.
SETTLE_SECONDS = 2.0


def wait_for(base_url: str) -> None:
    """Until the server at base_url answers (any HTTP status), at most WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base_url}/api/v1/log/key", timeout=2).close()
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            time.sleep(0.25)
    time.sleep(SETTLE_SECONDS)


class Command(BaseCommand):
    help = (
        "Load the demo organisations, keys, tokens, supply chain and claims (demo data only: "
        "keys and passwords are printed and stored in clear under VAR_DIR/demo)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="SQLite only: delete the database, migrate and load again.",
        )
        parser.add_argument(
            "--verify", action="store_true", help="Verify every claim again (they are verified when loaded)."
        )
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        shown = parser.add_mutually_exclusive_group()
        shown.add_argument("--no-instructions", action="store_true", help="Do not print the logins and instructions.")
        shown.add_argument(
            "--instructions-only", action="store_true", help="Print the logins and instructions only (load nothing)."
        )
        parser.add_argument(
            "--wait", action="store_true", help=f"Print them once BASE_URL answers (at most {WAIT_SECONDS:.0f} s)."
        )

    def handle(self, *args, reset, verify, base_url, no_instructions, instructions_only, wait, **options):
        directory = Path(settings.VAR_DIR) / "demo"
        base_url = base_url.rstrip("/")
        if instructions_only:
            if wait:
                wait_for(base_url)
            self.print_instructions(directory, base_url)
            return
        if reset:
            self.reset_database()
        if demo.is_loaded():
            self.stdout.write("The demo data is already loaded (use --reset to start again).")
            if verify:
                self.verify_all()
        else:
            loaded = demo.load()
            demo.write_files(loaded, directory)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Loaded {len(loaded.parties)} organisations, {demo.claim_count()} claims; "
                    f"checkpoint at tree size {loaded.checkpoint_size}."
                )
            )
            self.verify_all()
        if not no_instructions:
            if wait:
                wait_for(base_url)
            self.print_instructions(directory, base_url)

    def reset_database(self) -> None:
        if connection.vendor != "sqlite":
            raise CommandError(
                "--reset deletes the SQLite database file; the ledger is append-only, so on "
                "PostgreSQL drop and create the database instead, then migrate."
            )
        path = Path(settings.DATABASES["default"]["NAME"])
        connection.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        call_command("migrate", verbosity=0, interactive=False)

    def verify_all(self) -> None:
        """Verify the claims (as the demo auditor), one line each: the admin lists their verdicts."""
        self.stdout.write("Verified the demo claims:")
        for spec, verification in demo.verify_claims():
            mark = "ok " if verification.credit_usd == spec.expected_credit else "!! "
            expected = f"expected ${spec.expected_credit}: {spec.why}"
            self.stdout.write(f"{mark}{spec.vin}  ${verification.credit_usd:>5} ({expected})")
        # The verdicts are ledger entries too (contract §12): a checkpoint
        # covers them, cosigned, before anyone reads the log.
        self.stdout.write(f"Checkpoint at tree size {demo.publish()}, with the verdicts.")

    def print_instructions(self, directory: Path, base_url: str) -> None:
        tokens = demo.read_tokens(directory)
        supplier = "greenbushes-lithium"
        token = tokens.get(supplier, "<see tokens.json>")
        envelope = directory / "next-attestation.json"
        auth = shlex.quote(f"Authorization: Token {token}")
        lines = [
            "",
            f"Cairn demo on {base_url}/ (SQLite, demo data only)",
            f"  Admin:        {base_url}/admin/",
            f"    superuser   {demo.ADMIN_USERNAME} / {demo.ADMIN_PASSWORD}",
            f"    auditor     {demo.AUDITOR_USERNAME} / {demo.AUDITOR_PASSWORD}"
            "   (Provenance ledger > Claims: open a claim, press Verify)",
            f"  §45X:         {base_url}/admin/provenance/batch/macr/?year={demo.MACR_YEAR}"
            f"   (the cell batch {demo.MACR_CELLS}: a pass at 60%, a fail were it sold in {demo.MACR_YEAR + 1})",
            f"  API docs:     {base_url}/api/docs/",
            f"  Tokens:       {directory / 'tokens.json'}  (keys: {directory / 'keys'})",
            f"  Token of {supplier}: {token}",
            "",
            "Try the API as that supplier:",
            f"  curl -H {auth} {base_url}/api/v1/batches/{demo.SPARE_BATCH}",
            "  # post a statement signed by its key (a transfer of that lot at its head;",
            "  # issued_at is the load time, accepted for 30 days):",
            f"  curl -H {auth} -H 'Content-Type: application/json' "
            f"--data-binary @{shlex.quote(str(envelope))} {base_url}/api/v1/attestations",
            f"  curl {base_url}/api/v1/log/checkpoint",
            "",
            *self.examiner_lines(),
        ]
        self.stdout.write("\n".join(lines))

    def examiner_lines(self) -> list[str]:
        """The full cairn-verify command, with the log key and the witnesses pinned."""
        vin = demo.CLAIMS[0].vin
        bundle = f"{vin}.cairn-bundle.json"
        pins = [f"--log-key {shlex.quote(ledger_key.current().verifier)}"]
        pins += [f"--witness {shlex.quote(str(item['vkey']))}" for item in settings.LEDGER_WITNESSES]
        bin_dir = Path(sys.executable).parent
        return [
            "Check a verdict offline as an examiner would, with the keys pinned (an examiner gets them",
            "out of band: GET /api/v1/log/key and /api/v1/log/witnesses, or the witnesses' operators):",
            f"  {bin_dir / 'python'} {Path(settings.BASE_DIR) / 'manage.py'} export_bundle {vin} -o {bundle}",
            f"  {bin_dir / 'cairn-verify'} {bundle} \\",
            *(f"      {pin} \\" for pin in pins[:-1]),
            f"      {pins[-1]}",
            "",
        ]
