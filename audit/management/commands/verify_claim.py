"""Verify a claim and print its verdict readably (or as JSON with --json)."""

from __future__ import annotations

import json
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from agreements.snapshot import current_ruleset
from audit import engine, verdict_text
from cairn_core.dag import decimal_str
from cairn_core.regimes.s30d.lineage import Assessment, pct_shown
from provenance.errors import LedgerError
from provenance.models import Checkpoint, Organization


class Command(BaseCommand):
    help = (
        "Verify the claim on VIN against the latest checkpoint (publishing one first if "
        "needed), store the verification and print the verdict."
    )

    def add_arguments(self, parser):
        parser.add_argument("vin")
        parser.add_argument("--json", action="store_true", help="Print the verdict as JSON.")
        parser.add_argument("--detail", action="store_true", help="Also print each mineral lineage and component.")
        parser.add_argument(
            "--organization",
            help="The auditor organisation the verdict names as requested_by (default: the ledger's one auditor "
            "organisation); the user is null for a command.",
        )

    def handle(self, *args, vin, **options):
        organization = None
        if options["organization"]:
            organization = Organization.objects.filter(slug=options["organization"]).first()
            if organization is None or "auditor" not in organization.roles:
                raise CommandError(f"{options['organization']} is not an auditor organisation")
        try:
            verification = engine.verify_claim(vin, requested_by=None, organization=organization)
        except LedgerError as exc:
            raise CommandError(exc.message) from exc
        if options["json"]:
            self.stdout.write(json.dumps(verification.as_verdict(), indent=2))
            return
        claim = verification.claim
        self.stdout.write("\n".join(describe(verification.as_verdict(), claim)))
        if options["detail"]:
            # Read-only: the same claim, rules version and checkpoint, for its figures.
            checkpoint = Checkpoint.objects.get(tree_size=verification.checkpoint_size)
            verdict = engine.evaluate_claim(claim, current_ruleset(), checkpoint)
            self.stdout.write("\n".join(detail(verdict.assessment)))


def _when(verdict: dict) -> list[str]:
    """When and for whom, as the signed report says (absent before v1.2)."""
    if "verified_at" not in verdict:
        return []
    who = verdict["requested_by"]
    user = f"user {who['user']}" if who["user"] else "a command, no user"
    return [f"  verified at {verdict['verified_at']} for {who['organization'] or 'no organisation'} ({user})"]


def describe(verdict: dict, claim) -> list[str]:
    """The verdict as lines a person reads top to bottom."""
    requirements = verdict["requirements"]
    minerals, components = requirements["critical_minerals"], requirements["battery_components"]
    lines = [
        f"Verification #{verdict['id']} of VIN {verdict['vin']} (claim entry {verdict['claim_index']})",
        f"  placed in service {claim.placed_in_service}, acquired {claim.acquired}, "
        f"final assembly in {claim.final_assembly_country}",
        *_when(verdict),
        f"  integrity: {verdict['integrity']}",
        f"  critical minerals:         {_state(verdict, 'critical_minerals')}: {minerals['qualifying_pct']}% "
        f"qualifying, {_required(minerals['required_pct'])}",
        f"  battery components:        {_state(verdict, 'battery_components')}: "
        f"{components['north_america_pct']}% North American, "
        f"{_required(components['required_pct'])}",
        f"  foreign entity of concern: {_state(verdict, 'foreign_entity_of_concern')}",
        f"  final assembly:            {_met(requirements['final_assembly']['met'])}",
        f"  credit in force:           {_met(requirements['credit_in_force']['met'])}",
        f"  agreements relied on: {', '.join(verdict['agreements']) or '-'}",
        f"  problems: {len(verdict['problems']) or 'none'}",
    ]
    lines += [f"    index {item['index']}: [{item['code']}] {item['message']}" for item in verdict["problems"]]
    tree_size = verdict["checkpoint"].split("\n")[1] if verdict["checkpoint"] else "-"
    lines.append(f"  checkpoint: tree size {tree_size}")
    lines.append(f"  credit: {verdict_text.dollars(verdict['credit_usd'])}")
    if "scope" in verdict:
        not_checked = ", ".join(item["check"] for item in verdict["scope"]["not_checked"])
        lines.append(f"  scope: not the credit allowed; not checked: {not_checked}")
    return lines


def _state(verdict: dict, code: str) -> str:
    """ "met" / "NOT met", or the status that says why neither applies."""
    status = verdict.get("applied", {}).get("requirements", {}).get(code, {}).get("status")
    if status in ("not_applicable", "not_assessed"):
        return status.replace("_", " ")
    return _met(verdict["requirements"][code]["met"])


def _met(met: bool) -> str:
    return "met" if met else "NOT met"


def _required(required: str | None) -> str:
    return f"{required}% required" if required is not None else "no percentage applies"


def detail(done: Assessment) -> list[str]:
    """Each lineage's value and tests, and each component's value (USD, in the vehicle)."""
    lines = ["  mineral lineages (value in the vehicle, USD):"]
    for item in done.lineages:
        extraction, processing = item.extraction_share, item.processing_share
        lines.append(
            f"    {item.origin} {item.mineral}: {usd(item.value_usd)} "
            f"({decimal_str(item.mass_kg, 3)} kg; {item.source.kind} in {item.source.country} "
            f"{usd(item.source.value_usd)}, {pct_shown(extraction, HALF)}% qualifying; "
            f"processing {usd(processing.whole)}, {pct_shown(processing, HALF)}% qualifying"
            f"{'; recycled in North America' if item.recycled_in_north_america else ''}) "
            f"-> {'qualifying' if item.qualifies else 'not qualifying'}"
        )
    lines.append("  battery components (value in the vehicle, USD):")
    for component in done.components:
        where = "North American" if component.north_american else "outside North America"
        lines.append(
            f"    #{component.index} {component.batch} {component.component} in "
            f"{component.country}: {usd(component.value_usd)} ({where}"
            f"{'' if component.counts else '; not a battery component: not counted'})"
        )
    return lines


HALF = Decimal(50)


def usd(value) -> str:
    return decimal_str(value, 2)
