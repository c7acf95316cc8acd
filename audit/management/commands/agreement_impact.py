"""List what would change if an agreement ended on a date (nothing is stored)."""

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from agreements.models import TradeAgreement
from audit.impact import TerminationImpact, engine_evaluator, impact_of_termination


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a date YYYY-MM-DD") from exc


class Command(BaseCommand):
    help = (
        "List the logged entries, batches and claims that rely on agreement SLUG and would be "
        "affected if it ended on --terminate-on DATE (not in force from that date)."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--terminate-on", required=True, type=iso_date, metavar="DATE")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
        parser.add_argument(
            "--no-evaluate",
            action="store_true",
            help="List downstream claims without running the audit engine on them.",
        )

    def handle(self, *args, slug, terminate_on, **options):
        if not TradeAgreement.objects.filter(slug=slug).exists():
            raise CommandError(f"no agreement {slug!r}")
        evaluate = None if options["no_evaluate"] else engine_evaluator()
        impact = impact_of_termination(slug, terminate_on, evaluate=evaluate)
        if options["json"]:
            self.stdout.write(json.dumps(impact.as_dict(), indent=2))
        else:
            self.stdout.write("\n".join(describe(impact)))


def describe(impact: TerminationImpact) -> list[str]:
    """The impact as readable lines."""
    lines = [
        f"If {impact.agreement} ended on {impact.terminate_on} "
        f"(rules {impact.rules_version_before} -> {impact.rules_version_after}):",
        f"{len(impact.entries)} affected entries",
    ]
    for entry in impact.entries:
        lines.append(
            f"  #{entry.index} {entry.type} by {entry.issuer} in {entry.country} on "
            f"{entry.occurred_on}; batches: {', '.join(entry.batches) or '-'}"
        )
        for change in entry.minerals:
            after = ", ".join(change.after) or ("counts" if change.qualifies_after else "none")
            lines.append(f"    {change.mineral}: before {', '.join(change.before)}; after {after}")
    heading = "claims whose result changes" if impact.claims_evaluated else "downstream claims"
    lines.append(f"{len(impact.claims)} {heading}")
    for claim in impact.claims:
        line = f"  {claim.vin} (claim #{claim.claim_index}, in service {claim.placed_in_service})"
        if impact.claims_evaluated:
            line += f": before {claim.before}; after {claim.after}"
        lines.append(line)
    if not impact.claims_evaluated:
        lines.append("  (not evaluated: run without --no-evaluate to compare credits)")
    return lines
