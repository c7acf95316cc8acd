"""`manage.py verify_ledger [--since INDEX]`: check the whole ledger (contract §7).

Prints one `index N: <reason>` line per failing entry on stdout and exits 1,
or exits 0 when intact. A progress bar goes to stderr when it is a terminal.
"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from audit import checks, integrity, ledger_views
from audit.models import IntegrityCheckRun
from provenance import tlog


class Command(BaseCommand):
    help = "Recompute every hash, signature, chain link, balance and the Merkle tree."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            type=int,
            default=0,
            metavar="INDEX",
            help="check entries from INDEX on (and the checkpoints since)",
        )
        parser.add_argument(
            "--record",
            action="store_true",
            help="record problems as integrity incidents (mails ADMINS)",
        )
        parser.add_argument("--no-progress", action="store_true", help="never draw a progress bar")

    def handle(self, *args, since: int, record: bool, no_progress: bool, **options):
        size = tlog.current_size()
        if since < 0 or since > size:
            raise CommandError(f"--since must lie between 0 and the log's size {size}")
        bar = None if no_progress or not sys.stderr.isatty() else ProgressBar(size - since)
        run = checks.start_run(IntegrityCheckRun.Kind.COMMAND, since, size) if record else None
        problems = integrity.check_range(since, size, progress=bar.advance if bar else None)
        problems += integrity.check_tree_against_checkpoints(since_size=since)
        problems += ledger_views.check_ledger_tables()
        problems = integrity.in_order(problems)
        if bar:
            bar.close()
        if run:
            checks.finish_run(run, problems, detected_by="verify_ledger")
        for line in integrity.report_lines(problems):
            self.stdout.write(line)
        failing = len(integrity.problems_by_index(problems))
        summary = f"entries {since}..{size - 1}: " + (f"{failing} failing" if failing else "intact")
        self.stderr.write(summary)
        if problems:
            sys.exit(1)


class ProgressBar:
    """`[#####.....] 5000/10000 entries, 4200/s` redrawn in place on stderr."""

    WIDTH = 30

    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.monotonic()

    def advance(self, count: int) -> None:
        self.done += count
        filled = self.WIDTH * self.done // max(self.total, 1)
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total} entries, {rate:,.0f}/s"
        )
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
