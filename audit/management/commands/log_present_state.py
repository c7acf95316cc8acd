"""`manage.py log_present_state`: put a ledger's present state in its log (contract §12).

A ledger that holds keys, organisations, rule data and verdicts from before
ledger entries existed runs this once after upgrading. It appends, in one
transaction and in this order, what the log does not record yet:

1. a `rules` entry for the rule data as it stands;
2. an `organization` entry per organisation (at its creation time);
3. a `key_registered` entry per key (at its registration time) and a
   `key_revoked` entry per revoked key (at its revocation time);
4. a `verdict` entry per stored verification (at its time).

Every entry it appends carries `"recorded_before_logging": true`: it
stands after the entries it describes in the log, and says when the fact
held. Run again, it appends nothing (it compares with what the log holds).
From then on the integrity checks compare these tables with the log.
"""

from __future__ import annotations

from collections import Counter

from django.core.management.base import BaseCommand
from django.db import transaction

from audit import ledger_views
from audit.engine import verdict_fields
from audit.models import Verification
from cairn_core.ledger_entries import LedgerState
from provenance import ledger_entries, rule_changes
from provenance.models import Organization, SigningKey

BY = "command:log_present_state"


class Command(BaseCommand):
    help = "Append the present keys, organisations, rule data and verdicts to the log, once."

    def handle(self, *args, **options):
        with transaction.atomic():
            appended = log_present_state()
        if not appended:
            self.stdout.write("The log already records the present state: nothing appended.")
            return
        listed = ", ".join(f"{count} {kind}" for kind, count in sorted(appended.items()))
        self.stdout.write(f"Appended {sum(appended.values())} ledger entries recorded before logging began: {listed}.")


def log_present_state() -> Counter[str]:
    """What the log lacks of the present state, appended; the count by kind."""
    appended: Counter[str] = Counter()
    reason = "recorded before logging began"
    if rule_changes.record_current(reason=reason, source="the rule tables as they stood", by=BY):
        appended["rules"] += 1
    state, _problems, _latest = ledger_views.replay()
    appended["organization"] += _organizations(state)
    appended["key_registered"], appended["key_revoked"] = _keys(state)
    appended["verdict"] += _verdicts(state)
    return +appended  # without the zeros


def _organizations(state: LedgerState) -> int:
    count = 0
    for org in Organization.objects.order_by("created_at", "slug"):
        fields = ledger_entries.organization_fields(org.slug, org.name, str(org.country), list(org.roles))
        record = state.organizations.get(org.slug)
        if record and (record.name, record.country, list(record.roles)) == (
            fields["name"],
            fields["country"],
            fields["roles"],
        ):
            continue
        ledger_entries.append("organization", fields, at=org.created_at, before_logging=True)
        count += 1
    return count


def _keys(state: LedgerState) -> tuple[int, int]:
    registered = revoked = 0
    for key in SigningKey.objects.order_by("registered_at", "keyid"):
        record = state.keys.get(key.keyid)
        if record is None:
            fields = ledger_entries.key_fields(key.organization_id, key.keyid, bytes(key.public_key))
            ledger_entries.append("key_registered", fields, at=key.registered_at, before_logging=True)
            registered += 1
        if key.revoked_at is not None and (record is None or record.revoked_at is None):
            fields = {"organization": key.organization_id, "keyid": key.keyid}
            ledger_entries.append("key_revoked", fields, at=key.revoked_at, before_logging=True)
            revoked += 1
    return registered, revoked


def _verdicts(state: LedgerState) -> int:
    count = 0
    for verification in Verification.objects.order_by("id"):
        if verification.pk in state.verdicts or verification.report is None:
            continue
        fields = verdict_fields(verification)
        ledger_entries.append("verdict", fields, at=verification.requested_at, before_logging=True)
        count += 1
    return count
