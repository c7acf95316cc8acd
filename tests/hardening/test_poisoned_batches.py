"""A statement that fails at the database, inside a batch submission or
beside one: the batch answers per envelope, its honest envelopes' receipts
come back, and the honest statements sharing its group commit are appended
in a few transactions, not one each."""

from __future__ import annotations

import pytest

from provenance.append import checks, write
from provenance.models import Entry, EntryType
from tests.hardening.poison import poisoned
from tests.support import Ledger, assert_log_intact, origin_payload, sign_payload

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

URL = "/api/v1/attestations/batch"


@pytest.fixture(autouse=True)
def no_suspects():
    write._suspects.clear()
    yield
    write._suspects.clear()


def origin(ledger, party, name: str, material: str = "spodumene") -> bytes:
    payload = origin_payload(ledger, party, batch=f"{party.slug}:{name}")
    payload["outputs"][0]["material"] = material
    return sign_payload(payload, party)


def attestation_hashes() -> list[str]:
    return list(Entry.objects.exclude(type=EntryType.LEDGER).order_by("index").values_list("entry_hash", flat=True))


def test_an_envelope_failing_at_the_database_is_its_own_500_and_the_rest_land(api, miner):
    ledger = Ledger()
    with poisoned() as poison:
        bodies = [origin(ledger, miner, "a"), origin(ledger, miner, "bad", poison), origin(ledger, miner, "b")]
        body = b'{"envelopes": [' + b",".join(bodies) + b"]}"
        response = api.post(URL, data=body, content_type="application/json", **miner.auth)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [result["status"] for result in results] == [201, 500, 201]
    error = results[1]["error"]
    assert error["code"] == "server_error" and "nothing of it was stored" in error["message"]
    landed = attestation_hashes()
    assert [results[0]["entry"]["entry_hash"], results[2]["entry"]["entry_hash"]] == landed
    assert_log_intact()


def test_a_poisoned_statement_costs_its_group_a_few_transactions(miner, monkeypatch):
    """256 honest statements and one poisoned one in one group commit: the
    honest ones land in O(log n) transactions, not 257."""
    ledger = Ledger()
    calls = []
    real = checks.append_batch
    monkeypatch.setattr(checks, "append_batch", lambda items: calls.append(len(items)) or real(items))
    with poisoned() as poison:
        items = [checks.prepare(origin(ledger, miner, f"h{n}"), acting_org=miner.org) for n in range(256)]
        items.insert(100, checks.prepare(origin(ledger, miner, "bad", poison), acting_org=miner.org))
        outcomes = checks.append_batch_isolated(items)
    assert [isinstance(outcome, checks.AppendFailed) for outcome in outcomes] == [n == 100 for n in range(257)]
    assert attestation_hashes() == [item.envelope.entry_hash for n, item in enumerate(items) if n != 100]
    assert len(calls) <= 2 * 9 + 1, calls
    assert_log_intact()


def test_a_lock_timeout_is_still_unavailable_for_every_statement(miner, monkeypatch):
    from django.db import OperationalError

    ledger = Ledger()
    items = [checks.prepare(origin(ledger, miner, f"t{n}"), acting_org=miner.org) for n in range(3)]

    def locked(batch):
        raise OperationalError("database is locked")

    assert [o.code for o in write.append_isolating_failures(locked, items)] == ["unavailable"] * 3


def test_a_poisoners_later_statements_are_appended_apart_from_the_others(miner, refiner, monkeypatch):
    """Once an organisation's statement failed at the database, its
    statements go in transactions of their own: the others' batch does not
    fail again with it."""
    ledger = Ledger()
    with poisoned() as poison:
        (failed,) = checks.append_batch_isolated(
            [checks.prepare(origin(ledger, miner, "p1", poison), acting_org=miner.org)]
        )
        assert isinstance(failed, checks.AppendFailed) and "pilbara-mining" in write._suspects
        calls = []
        real = checks.append_batch
        monkeypatch.setattr(checks, "append_batch", lambda items: calls.append(len(items)) or real(items))
        honest = [checks.prepare(origin(ledger, refiner, f"r{n}"), acting_org=refiner.org) for n in range(20)]
        bad = checks.prepare(origin(ledger, miner, "p2", poison), acting_org=miner.org)
        outcomes = checks.append_batch_isolated([*honest[:10], bad, *honest[10:]])
    assert [o.status for o in outcomes[:10] + outcomes[11:]] == [201] * 20
    assert isinstance(outcomes[10], checks.AppendFailed)
    assert calls == [20, 1], "the honest statements in one transaction that never failed; the poisoner's alone"
    assert_log_intact()
