"""`manage.py run_sequencer`: append every web worker's statements, host-wide.

Serves CAIRN_SEQUENCER_SOCKET (or --socket) until SIGTERM or Ctrl-C; the
web workers must be given the same CAIRN_SEQUENCER_SOCKET. On stop it
finishes and answers the batch in hand, closes the socket and exits; workers
then append by themselves until it is back.
See provenance/sequencer.py for why, and for what happens while it is down.
"""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from provenance.append import checks
from provenance.append.process import AlreadyServing, Server


class Command(BaseCommand):
    help = "Serve the ledger's group commit to every web worker on this host over a Unix socket."

    def add_arguments(self, parser):
        parser.add_argument("--socket", default=None, help="socket path (default: CAIRN_SEQUENCER_SOCKET)")

    def handle(self, *args, **options):
        path = options["socket"] or settings.CAIRN_SEQUENCER_SOCKET
        if not path:
            raise CommandError("give --socket PATH or set CAIRN_SEQUENCER_SOCKET")
        try:
            server = Server(path, append=checks.append_handed_over)
        except AlreadyServing as exc:
            raise CommandError(f"{exc}; not starting a second one") from exc
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: server.stop())
        self.stdout.write(f"sequencer serving {path}")
        self.stdout.flush()
        server.serve_forever()
