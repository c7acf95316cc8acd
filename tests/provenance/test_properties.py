"""Property-based: random valid chains keep mass balance and chain links;
no single-byte change to a signed envelope gets a different statement in."""

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn_core import dsse
from provenance.append import checks
from provenance.errors import LedgerError
from provenance.models import Batch, BatchLink
from tests.support import Ledger, ledger_snapshot, make_party, sign_payload

pytestmark = pytest.mark.django_db

# A step: 0 = transform part of a batch into a new one, 1 = transfer it, 2 = certify it.
steps = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 50), st.integers(1, 400)), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_random_chains_keep_mass_balance_and_links(plan):
    from django.db import transaction

    with transaction.atomic():
        suffix = str(abs(hash(tuple(plan))) % 10**8)
        a = make_party(f"sup-a-{suffix}", ["supplier"], "AU")
        b = make_party(f"sup-b-{suffix}", ["supplier"], "CA")
        c = make_party(f"cert-{suffix}", ["certifier"], "US")
        ledger = Ledger()
        holder = {ledger.origin(a, quantity="1000"): a}
        for action, pick, amount in plan:
            batch_id = sorted(holder)[pick % len(holder)]
            party = holder[batch_id]
            try:
                if action == 0:
                    (new,) = ledger.transform(party, [(batch_id, str(amount))], [{"quantity": str(amount)}])
                    holder[new] = party
                elif action == 1:
                    other = b if party is a else a
                    ledger.transfer(party, batch_id, other)
                    holder[batch_id] = other
                else:
                    ledger.certify(c, batch_id)
            except LedgerError as error:
                assert error.code == "overdraw"
        for batch in Batch.objects.filter(id__in=holder):
            consumed = sum((link.quantity or Decimal(0) for link in batch.links.all()), Decimal(0))
            assert consumed == batch.consumed <= batch.quantity
            links = list(BatchLink.objects.filter(batch=batch).order_by("entry_id").select_related("entry"))
            for earlier, later in zip(links, links[1:], strict=False):
                assert later.prev == earlier.entry.entry_hash
            assert batch.head == links[-1].entry.entry_hash
        transaction.set_rollback(True)


@pytest.fixture
def signed(miner):
    ledger = Ledger()
    payload = ledger.statement(
        "origin",
        miner,
        activity="extraction",
        site={"name": "Mine", "country": "AU"},
        outputs=[
            {
                "batch": f"{miner.slug}:p",
                "material": "ore",
                "quantity": "10",
                "unit": "kg",
                "minerals": {"cobalt": "1"},
                "value_added_usd": "5",
            }
        ],
    )
    return sign_payload(payload, miner)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), flip=st.integers(1, 255))
def test_any_single_byte_change_is_refused_or_is_the_same_statement(signed, miner, position, flip):
    from django.db import transaction

    original = dsse.parse_envelope(signed)
    body = bytearray(signed)
    body[position % len(body)] ^= flip
    before = ledger_snapshot()  # the persona's ledger entries (contract §12) are in it
    with transaction.atomic():
        try:
            result = checks.append_attestation(bytes(body), acting_org=miner.org)
        except LedgerError:
            assert ledger_snapshot() == before
        else:
            # Only a change to the JSON wrapping that decodes to the very same
            # signed bytes (e.g. base64 alphabet) can be accepted.
            assert result.entry.entry_hash == original.entry_hash
            assert json.loads(result.entry.envelope) == original.to_stored()
        transaction.set_rollback(True)


def test_changing_any_payload_byte_is_refused(signed, miner):
    envelope = dsse.parse_envelope(signed)
    before = ledger_snapshot()  # the persona's ledger entries (contract §12) are in it
    for position in range(len(envelope.payload)):
        payload = bytearray(envelope.payload)
        payload[position] ^= 0x01
        tampered = json.dumps(
            {
                "payloadType": envelope.payload_type,
                "payload": dsse.b64encode(bytes(payload)),
                "signatures": envelope.to_stored()["signatures"],
            }
        ).encode()
        with pytest.raises(LedgerError) as info:
            checks.append_attestation(tampered, acting_org=miner.org)
        assert info.value.code in {"bad_signature", "invalid_payload"}
    assert ledger_snapshot() == before
