"""Verdicts undermined by an incident are verified again, once, after the periodic checks."""

from __future__ import annotations

import datetime as dt

from django.db import connection

from audit import reverify, tasks
from audit.engine import verify_claim
from audit.models import Verification
from provenance import checkpoints
from provenance.models import Entry
from tests.support import TAMPERED_VIN as VIN
from tests.support import claim, raise_value, simple_chain, tamper_envelope


def earlier(verification: Verification) -> None:
    """The verdict a minute before the incident (verdicts' times are kept to the second)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Verification._meta.db_table} SET requested_at = %s WHERE id = %s",
            [verification.requested_at - dt.timedelta(minutes=1), verification.pk],
        )


def test_undermined_claims_are_verified_again_once(tampered):
    _incident, first, _second, _origin = tampered
    earlier(first)
    (made,) = reverify.reverify_undermined()
    again = Verification.objects.get(pk=made)
    assert again.claim_id == VIN and again.integrity == "broken" and again.credit_usd == "0"
    assert reverify.reverify_undermined() == []  # its latest verdict is after the incident now


def test_the_periodic_check_verifies_undermined_claims_again(ledger, miner, refiner, maker, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    claim(ledger, maker, simple_chain(ledger, miner, refiner, maker), VIN)
    checkpoints.publish_checkpoint()
    before = verify_claim(VIN, requested_by=None)
    earlier(before)
    tamper_envelope(Entry.objects.filter(type="origin").get().index, raise_value)
    tasks.check_sweep()
    assert Verification.objects.filter(claim_id=VIN).order_by("-id").first().integrity == "broken"
