"""`manage.py demo_witnesses --ports P1 P2`: prepare the demo's two witnesses (demo.witnesses).

Prints one `cairn witness serve …` line per witness for `make serve` to
start; with `--wait`, waits instead until both answer.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from demo import data as demo
from demo import witnesses


class Command(BaseCommand):
    help = "Prepare the demo's two C2SP witnesses and print the commands that start them."

    def add_arguments(self, parser):
        parser.add_argument("--ports", nargs=2, type=int, default=[9101, 9102], help="The two witnesses' ports.")
        parser.add_argument("--wait", action="store_true", help="Wait until both answer instead.")

    def handle(self, *args, ports, wait, **options):
        if wait:
            listed = witnesses.prepare(ports, fresh_ledger=False)
            silent = witnesses.wait_until_up(listed)
            if silent:
                raise CommandError(f"the demo witnesses did not start: {', '.join(silent)}")
            return
        self.stdout.write(witnesses.shell_lines(witnesses.prepare(ports, fresh_ledger=not demo.is_loaded())), ending="")
