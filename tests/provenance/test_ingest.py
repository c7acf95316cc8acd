"""The write path: chains, heads, custody, balance, atomicity, co-signers."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from cairn_core import merkle
from provenance import tlog
from provenance.append import checks
from provenance.errors import LedgerError
from provenance.models import Batch, BatchLink, Claim, Entry, EntryType, LogState
from tests.support import Ledger, ledger_snapshot, mine_to_claim, sign_payload


def attestations():
    """The log's attestations: the personas' ledger entries (contract §12) left out."""
    return Entry.objects.exclude(type=EntryType.LEDGER)


def refused(code, call, *args, **kwargs):
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value.message
    assert ledger_snapshot() == before
    return info.value


def test_a_chain_from_mine_to_claim_links_every_batch(ledger, miner, refiner, maker):
    size = tlog.current_size()
    batches = mine_to_claim(ledger, miner, refiner, maker, "1HGCM82633A004352")
    entries = list(Entry.objects.filter(index__gte=size).order_by("index"))
    assert [entry.index for entry in entries] == list(range(size, size + 7))
    assert [entry.type for entry in entries] == [
        "origin",
        "transfer",
        "transform",
        "transfer",
        "transform",
        "transform",
        "claim",
    ]
    ore = Batch.objects.get(id=batches["ore"])
    assert ore.consumed == Decimal(1000) and ore.remaining == 0
    assert ore.custodian_id == refiner.slug
    # each batch's links form a hash chain: every prev is the previous link's entry_hash
    for batch in Batch.objects.all():
        links = list(batch.links.select_related("entry").order_by("entry_id"))
        assert links[0].role == "created" and links[0].prev == ""
        for earlier, later in zip(links, links[1:], strict=False):
            assert later.prev == earlier.entry.entry_hash
        assert batch.head == links[-1].entry.entry_hash
    claim = Claim.objects.get()
    assert claim.batch_id == batches["pack"] and claim.entry.index == size + 6
    assert Batch.objects.get(id=batches["hydroxide"]).carries == ["lithium"]


def test_leaf_hash_covers_the_stored_envelope_and_time(ledger, miner):
    before = LogState.objects.get()
    ledger.origin(miner)
    entry = attestations().get()
    leaf_input = ('{"envelope":' + entry.envelope + ',"integrated_time":' + str(entry.integrated_time) + "}").encode()
    assert entry.leaf_hash == merkle.leaf_hash(leaf_input).hex()
    state = LogState.objects.get()
    # the tree grew by this one leaf, after the ledger entries before it
    frontier, _ = merkle.append_to_frontier(
        [bytes.fromhex(node) for node in before.frontier], before.size, bytes.fromhex(entry.leaf_hash)
    )
    assert entry.index == before.size
    assert state.size == before.size + 1 and state.frontier == [node.hex() for node in frontier]


def ore_origin(ledger, miner) -> dict:
    return ledger.origin_statement(
        miner, batch="pilbara-mining:x", site="s", material="ore", quantity="5", minerals={"nickel": "1"}, value="0"
    )


def test_reposting_the_same_envelope_returns_the_same_entry(ledger, miner):
    payload = ore_origin(ledger, miner)
    body = sign_payload(payload, miner)
    size = Entry.objects.count()
    first = checks.append_attestation(body, acting_org=miner.org)
    again = checks.append_attestation(body, acting_org=miner.org)
    assert (first.status, again.status) == (201, 200)
    assert again.as_body() == first.as_body()
    assert Entry.objects.count() == size + 1


def test_same_statement_with_other_signatures_is_a_duplicate(ledger, miner, refiner):
    payload = ore_origin(ledger, miner)
    checks.append_attestation(sign_payload(payload, miner), acting_org=miner.org)
    refused(
        "duplicate_statement", checks.append_attestation, sign_payload(payload, miner, refiner), acting_org=miner.org
    )


def test_a_stale_prev_is_refused_and_names_the_head(ledger, miner, refiner):
    ore = ledger.origin(miner)
    old_head = ledger.head(ore)
    ledger.transfer(miner, ore, refiner)
    payload = ledger.statement(
        "transform",
        refiner,
        activity="processing",
        site={"name": "p", "country": "JP"},
        inputs=[{"batch": ore, "prev": old_head, "quantity": "1"}],
        outputs=[
            {"batch": "kansai-refining:y", "material": "m", "quantity": "1", "unit": "kg", "value_added_usd": "1"}
        ],
    )
    error = refused("stale_head", ledger.post, refiner, payload)
    assert error.extra == {"head": ledger.head(ore)}


def test_only_the_custodian_consumes_or_transfers(ledger, miner, refiner, stranger):
    ore = ledger.origin(miner)
    payload = ledger.statement("transfer", stranger, batch=ore, prev=ledger.head(ore), to=refiner.slug)
    refused("unknown_batch", ledger.post, stranger, payload)  # never held: as if missing (docs/decisions.md)
    ledger.transfer(miner, ore, refiner)
    payload = ledger.statement("transfer", miner, batch=ore, prev=ledger.head(ore), to=stranger.slug)
    refused("not_custodian", ledger.post, miner, payload)


def test_consumption_never_exceeds_quantity(ledger, miner):
    ore = ledger.origin(miner, quantity="100")
    ledger.transform(miner, [(ore, "60")], [{"quantity": "6"}])
    payload = ledger.statement(
        "transform",
        miner,
        activity="processing",
        site={"name": "p", "country": "AU"},
        inputs=[{"batch": ore, "prev": ledger.head(ore), "quantity": "40.000000001"}],
        outputs=[{"batch": "pilbara-mining:z", "material": "m", "quantity": "1", "unit": "kg", "value_added_usd": "1"}],
    )
    refused("overdraw", ledger.post, miner, payload)
    ledger.transform(miner, [(ore, "40")], [{"quantity": "4"}])
    assert Batch.objects.get(id=ore).remaining == 0


def test_a_vin_is_claimed_once(ledger, miner, refiner, maker):
    mine_to_claim(ledger, miner, refiner, maker, "1HGCM82633A004352")
    ore = ledger.origin(miner, country="CA")
    ledger.transfer(miner, ore, maker)
    (pack,) = ledger.transform(
        maker, [(ore, "10")], [{"quantity": "1", "unit": "unit", "component": "battery_pack"}], activity="assembly"
    )
    payload = ledger.statement(
        "claim",
        maker,
        batch=pack,
        prev=ledger.head(pack),
        quantity="1",
        vin="1HGCM82633A004352",
        acquired="2024-06-01",
        placed_in_service="2024-06-02",
        final_assembly={"name": "a", "country": "US"},
    )
    refused("vin_claimed", ledger.post, maker, payload)


def test_issued_at_outside_the_window_is_clock_skew(ledger, miner):
    now = timezone.now()
    for issued in (now + dt.timedelta(minutes=6), now - dt.timedelta(days=31)):
        skewed = Ledger(now=issued)
        payload = skewed.statement(
            "origin",
            miner,
            activity="extraction",
            site={"name": "s", "country": "AU"},
            outputs=[
                {
                    "batch": "pilbara-mining:late",
                    "material": "ore",
                    "quantity": "5",
                    "unit": "kg",
                    "minerals": {"cobalt": "1"},
                    "value_added_usd": "0",
                }
            ],
        )
        refused("clock_skew", checks.append_attestation, sign_payload(payload, miner), acting_org=miner.org, now=now)


def test_receiver_cosignature_is_recorded(ledger, miner, refiner):
    ore = ledger.origin(miner)
    result = ledger.transfer(miner, ore, refiner, cosign=True)
    signatures = {(s.organization_id, s.is_issuer) for s in result.entry.signature_records.all()}
    assert signatures == {(miner.slug, True), (refiner.slug, False)}


def test_revoked_keys_cannot_sign_new_entries(ledger, miner):
    from provenance.keys import revoke_key

    ledger.origin(miner)
    revoke_key(organization=miner.org, keyid=miner.keyid)
    payload = ledger.origin_statement(
        miner, batch="pilbara-mining:after", site="s", material="ore", quantity="5", minerals={"cobalt": "1"}, value="0"
    )
    refused("key_not_valid", ledger.post, miner, payload)
    assert attestations().count() == 1  # the earlier entry stays


def test_links_record_custody_and_consumption(ledger, miner, refiner):
    ore = ledger.origin(miner, quantity="10")
    ledger.transfer(miner, ore, refiner)
    ledger.transform(refiner, [(ore, "4")], [{"quantity": "1"}], country="JP")
    links = list(
        BatchLink.objects.filter(batch_id=ore)
        .order_by("entry_id")
        .values_list("role", "quantity", "custodian_before_id", "custodian_after_id")
    )
    assert links == [
        ("created", None, None, miner.slug),
        ("transferred", None, miner.slug, refiner.slug),
        ("consumed", Decimal(4), refiner.slug, refiner.slug),
    ]


def test_a_rolled_back_append_leaves_no_gap_in_the_indexes(ledger, miner, monkeypatch):
    from provenance.append import sql

    size = tlog.current_size()
    ledger.origin(miner)
    real_write = sql.write

    def write_then_fail(*args, **kwargs):
        real_write(*args, **kwargs)  # the rows are written, then the transaction fails
        raise RuntimeError("disk full")

    monkeypatch.setattr(sql, "write", write_then_fail)
    before = ledger_snapshot()
    with pytest.raises(RuntimeError):
        ledger.origin(miner)
    assert ledger_snapshot() == before
    monkeypatch.setattr(sql, "write", real_write)
    ledger.origin(miner)
    assert list(Entry.objects.values_list("index", flat=True)) == list(range(size + 2))
    assert LogState.objects.get().size == size + 2


def test_a_batch_checks_each_statement_against_the_earlier_ones(ledger, miner, refiner):
    """Statements appended together: the second builds on the first's head, the
    third is stale, the fourth overdraws; each gets its own answer."""
    ore = ledger.origin(miner, quantity="10")
    head = ledger.head(ore)

    def pending(payload):
        return checks.prepare(sign_payload(payload, miner), acting_org=miner.org)

    def split(prev, quantity, name):
        return ledger.statement(
            "transform",
            miner,
            activity="split",
            site={"name": "p", "country": "AU"},
            inputs=[{"batch": ore, "prev": prev, "quantity": quantity}],
            outputs=[
                {
                    "batch": f"{miner.slug}:{name}",
                    "material": "ore",
                    "quantity": quantity,
                    "unit": "kg",
                    "value_added_usd": "0",
                }
            ],
        )

    size = tlog.current_size()
    first = pending(split(head, "6", "a"))
    second = pending(split(first.envelope.entry_hash, "3", "b"))
    stale = pending(split(head, "1", "c"))
    greedy = pending(split(second.envelope.entry_hash, "2", "d"))
    outcomes = checks.append_batch([first, second, stale, greedy])
    assert [getattr(o, "code", getattr(o, "status", None)) for o in outcomes] == [201, 201, "stale_head", "overdraw"]
    assert list(Entry.objects.values_list("index", flat=True)) == list(range(size + 2))
    assert list(attestations().filter(index__gte=size).values_list("entry_hash", flat=True).order_by("index")) == [
        first.envelope.entry_hash,
        second.envelope.entry_hash,
    ]
    batch = Batch.objects.get(id=ore)
    assert batch.consumed == 9 and batch.head == second.envelope.entry_hash


def test_a_key_revoked_while_its_statement_waits_is_refused(ledger, miner):
    """Key validity is judged when the entry is logged, under the tail lock
    the revocation took too, not when the statement arrived."""
    from provenance.keys import revoke_key

    payload = ledger.origin_statement(miner, batch="pilbara-mining:waiting")
    waiting = checks.prepare(sign_payload(payload, miner), acting_org=miner.org)  # arrived, key valid
    revoke_key(organization=miner.org, keyid=miner.keyid)
    (outcome,) = checks.append_batch([waiting])
    assert isinstance(outcome, LedgerError) and outcome.code == "key_not_valid"
    assert not attestations().filter(entry_hash=waiting.envelope.entry_hash).exists()


def test_key_times_are_whole_seconds_that_agree_with_the_log(ledger, miner):
    """registered_at is its whole second, revoked_at the next whole second:
    an entry logged in the revocation's second, before it, stays valid for
    every verifier; the first second after it is not."""
    import json

    from freezegun import freeze_time

    from cairn_core import dsse
    from cairn_core.entries import Key
    from cairn_core.payload import PAYLOAD_TYPE
    from provenance.keys import revoke_key
    from provenance.models import SigningKey
    from tests.support import verify

    second = dt.datetime(2026, 12, 7, 10, 0, 0, tzinfo=dt.UTC)
    with freeze_time(second + dt.timedelta(microseconds=100_000)):
        private_key, keyid = miner.new_key()
        payload = json.dumps(ledger.origin_statement(miner, batch="pilbara-mining:same-second")).encode()
        envelope = dsse.sign(PAYLOAD_TYPE, payload, [(keyid, private_key)]).to_stored()
        checks.append_attestation(json.dumps(envelope).encode(), acting_org=miner.org)
    with freeze_time(second + dt.timedelta(microseconds=300_000)):
        revoke_key(organization=miner.org, keyid=keyid)
    key = SigningKey.objects.get(keyid=keyid)
    assert (key.registered_at, key.revoked_at) == (second, second + dt.timedelta(seconds=1))
    verifier = Key.of(bytes(key.public_key), miner.slug, key.registered_at, key.revoked_at)
    at = int(second.timestamp())
    assert [verifier.valid_at(t) for t in (at - 1, at, at + 1)] == [False, True, False]
    assert verify() == (0, [])
