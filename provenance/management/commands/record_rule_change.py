"""`manage.py record_rule_change --reason R --source S`: log the rule data as it stands (contract §12).

After a data migration changes the rule data of a ledger that already logs
(a new agreement, an amended schedule), the log must record it, or the
integrity checks raise `rules_data` and verifications refuse the rules.
This appends one `rules` entry for the rule data as it now stands, with
the reason and source given (both required), or nothing when the log
already records it. Edits made in the admin are logged by the admin.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from provenance.rule_changes import RuleChangeRefused, record_current


class Command(BaseCommand):
    help = "Append a rules entry for the rule data as it stands, with its reason and source."

    def add_arguments(self, parser):
        parser.add_argument("--reason", required=True, help="Why the rule data changed.")
        parser.add_argument("--source", required=True, help="Where the change comes from.")
        parser.add_argument("--by", default="command:record_rule_change", help="Who (default: this command).")

    def handle(self, *args, reason, source, by, **options):
        try:
            entry = record_current(reason=reason, source=source, by=by)
        except RuleChangeRefused as exc:
            raise CommandError(str(exc)) from exc
        if entry is None:
            self.stdout.write("The log already records the rule data as it stands: nothing appended.")
        else:
            self.stdout.write(f"Appended rules entry #{entry.index} ({entry.statement['version']}).")
