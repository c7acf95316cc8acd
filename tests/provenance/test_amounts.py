"""Every amount the grammar admits (contract §3: 21 integer digits, 9
decimals) is stored, read back and re-verified digit for digit, on SQLite
and on PostgreSQL: no 500, no rounding, no false tamper alarm."""

import io
from decimal import Decimal, localcontext

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cairn_core.payload import DECIMAL
from provenance.models import Batch, BatchLink
from tests.support import origin_payload, sign_payload

pytestmark = pytest.mark.django_db

# The grammar's own expression: every string it accepts, and no other.
amounts = st.from_regex(DECIMAL, fullmatch=True)
positive = amounts.filter(lambda text: Decimal(text) > 0)


def verify_ledger() -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_ledger", stdout=out, stderr=io.StringIO())
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


def post(api, party, payload):
    body = sign_payload(payload, party)
    return api.post("/api/v1/attestations", data=body, content_type="application/json", **party.auth)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(quantity=positive, value=amounts, kg=amounts, consumed=positive)
@example(quantity="1" * 21, value="9" * 21, kg="0.000000001", consumed="1")
@example(quantity="9" * 21 + "." + "9" * 9, value="0.123456789", kg="0.5", consumed="9" * 21 + "." + "9" * 9)
def test_every_grammar_amount_round_trips_and_verifies(api, ledger, miner, quantity, value, kg, consumed):
    kg, consumed = min(kg, quantity, key=Decimal), min(consumed, quantity, key=Decimal)
    with transaction.atomic():
        ore = origin_payload(ledger, miner, batch="pilbara-mining:ore-9")
        ore["outputs"][0].update(quantity=quantity, value_added_usd=value, minerals={"lithium": kg})
        assert post(api, miner, ore).status_code == 201
        head = Batch.objects.get(id="pilbara-mining:ore-9").head
        split = ledger.statement(
            "transform", miner, activity="split", site={"name": "Mine", "country": "AU"},
            inputs=[{"batch": "pilbara-mining:ore-9", "prev": head, "quantity": consumed}],
            outputs=[{"batch": "pilbara-mining:part", "material": "ore", "quantity": consumed,
                      "unit": "kg", "value_added_usd": value}],
        )  # fmt: skip
        assert post(api, miner, split).status_code == 201

        batch = Batch.objects.get(id="pilbara-mining:ore-9")
        assert (batch.quantity, batch.value_added_usd) == (Decimal(quantity), Decimal(value))
        assert batch.minerals == {"lithium": kg}
        assert BatchLink.objects.get(batch_id=batch.id, role="consumed").quantity == Decimal(consumed)
        shown = api.get(f"/api/v1/batches/{batch.id}", **miner.auth)
        assert shown.status_code == 200
        assert Decimal(shown.json()["quantity"]) == Decimal(quantity)
        with localcontext(prec=64):
            assert Decimal(shown.json()["remaining"]) == Decimal(quantity) - Decimal(consumed) == batch.remaining
        assert verify_ledger() == (0, "")
        transaction.set_rollback(True)
