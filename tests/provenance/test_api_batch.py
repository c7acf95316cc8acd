"""POST /api/v1/attestations/batch (contract §9): each envelope checked and
appended as if posted alone, in order; one result per envelope; the body's
limits; the throttle counting envelopes."""

import pytest
from django.core.cache import cache

from provenance import tlog
from provenance.api.throttles import TokenRateThrottle
from provenance.models import Batch, Entry
from tests.provenance.batch_cases import REFUSALS, entry_hash_of, first_payload
from tests.support import batch_body, ledger_snapshot, origin_payload, post_batch, results, sign_payload

URL = "/api/v1/attestations/batch"


def test_a_batch_creates_a_batch_and_transfers_it(api, ledger, miner, refiner):
    origin = sign_payload(origin_payload(ledger, miner, batch="pilbara-mining:ore-1"), miner)
    transfer = sign_payload(
        ledger.statement("transfer", miner, batch="pilbara-mining:ore-1", prev=entry_hash_of(origin), to=refiner.slug),
        miner,
    )
    size = tlog.current_size()  # the personas' ledger entries (contract §12) come first
    answer = results(post_batch(api, miner, batch_body(origin, transfer)))
    first, second = (Entry.objects.get(index=size + i) for i in (0, 1))
    assert answer == [
        {"status": 201, "entry": {"index": size, "entry_hash": first.entry_hash,
                                  "integrated_time": first.integrated_time, "leaf_hash": first.leaf_hash}},
        {"status": 201, "entry": {"index": size + 1, "entry_hash": second.entry_hash,
                                  "integrated_time": second.integrated_time, "leaf_hash": second.leaf_hash}},
    ]  # fmt: skip
    assert first.entry_hash == entry_hash_of(origin) and second.type == "transfer"
    batch = Batch.objects.get(id="pilbara-mining:ore-1")
    assert batch.custodian_id == refiner.slug and batch.head == second.entry_hash


def test_each_result_is_what_a_single_post_answers(api, ledger, miner):
    """The same envelopes again: each 200 with its original body, like a re-post."""
    envelopes = [sign_payload(origin_payload(ledger, miner, batch=f"pilbara-mining:o{n}"), miner) for n in range(3)]
    size = tlog.current_size()
    first = results(post_batch(api, miner, batch_body(*envelopes)))
    assert [r["status"] for r in first] == [201, 201, 201]
    assert [r["entry"]["index"] for r in first] == [size, size + 1, size + 2]
    again = results(post_batch(api, miner, batch_body(*envelopes)))
    assert again == [{"status": 200, "entry": r["entry"]} for r in first]
    single = api.post("/api/v1/attestations", data=envelopes[1], content_type="application/json", **miner.auth)
    assert single.status_code == 200 and single.json() == first[1]["entry"]
    assert Entry.objects.count() == size + 3


def test_the_same_envelope_twice_in_one_batch_is_logged_once(api, ledger, miner):
    envelope = sign_payload(origin_payload(ledger, miner), miner)
    size = Entry.objects.count()
    first, second = results(post_batch(api, miner, batch_body(envelope, envelope)))
    assert first["status"] == 201 and second == {"status": 200, "entry": first["entry"]}
    assert Entry.objects.count() == size + 1


# --- every refusal of contract §6, for the middle envelope of three ----------


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_failing_middle_envelope_is_refused_with_its_code_and_the_rest_land(api, ledger, miner, refiner, world, case):
    status, build = REFUSALS[case]
    code = case.split("-")[0]
    first = sign_payload(first_payload(ledger, miner), miner)
    middle = build(ledger, miner, refiner, world)
    last = sign_payload(origin_payload(ledger, miner, batch="pilbara-mining:last"), miner)
    size = Entry.objects.count()
    answer = results(post_batch(api, miner, batch_body(first, middle, last)))
    assert answer[1]["status"] == status, answer[1]
    assert answer[1]["error"]["code"] == code and answer[1]["error"]["message"]
    assert [answer[0]["status"], answer[2]["status"]] == [201, 201]
    assert [answer[0]["entry"]["index"], answer[2]["entry"]["index"]] == [size, size + 1]
    assert Entry.objects.count() == size + 2  # the middle one left no trace
    assert list(Entry.objects.filter(index__gte=size).values_list("entry_hash", flat=True).order_by("index")) == [
        entry_hash_of(first),
        entry_hash_of(last),
    ]
    if code == "stale_head":
        assert answer[1]["error"]["head"] == ledger.head(world["ore"])


def test_a_vin_claimed_earlier_in_the_batch_is_refused(api, ledger, miner, maker):
    ore = ledger.origin(miner, quantity="10")
    ledger.transfer(miner, ore, maker)
    (pack, other) = ledger.transform(
        maker,
        [(ore, "5")],
        [{"quantity": "1", "unit": "unit", "component": "battery_pack"}] * 2,
        activity="assembly",
    )

    def claim(batch):
        return sign_payload(
            ledger.statement(
                "claim",
                maker,
                batch=batch,
                prev=ledger.head(batch),
                quantity="1",
                vin="5YJ3E1EA7KF317000",
                acquired="2024-01-02",
                placed_in_service="2024-01-03",
                final_assembly={"name": "a", "country": "US"},
            ),
            maker,
        )

    first, second = results(post_batch(api, maker, batch_body(claim(pack), claim(other))))
    assert first["status"] == 201
    assert second["status"] == 409 and second["error"]["code"] == "vin_claimed"


def test_a_later_envelope_on_a_refused_one_is_refused_too(api, ledger, miner, refiner):
    """Each envelope sees the ledger as the earlier ones left it: a transfer
    of a batch whose origin was refused finds no batch."""
    bad_origin = sign_payload(origin_payload(ledger, miner, batch="pilbara-mining:x", color="blue"), miner)
    transfer = sign_payload(
        ledger.statement("transfer", miner, batch="pilbara-mining:x", prev="c" * 64, to=refiner.slug), miner
    )
    size = Entry.objects.count()
    answer = results(post_batch(api, miner, batch_body(bad_origin, transfer)))
    assert [r["error"]["code"] for r in answer] == ["invalid_payload", "unknown_batch"]
    assert Entry.objects.count() == size


# --- the body ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b"[]",
        b'"envelopes"',
        b"{}",
        b'{"envelopes": []}',
        b'{"envelopes": {}}',
        b'{"envelopes": null}',
        b'{"envelopes": [{}], "extra": 1}',
        b'{"envelopes": [{}], "envelopes": [{}]}',
        b'{"envelopes": [{}]} trailing',
        b'{"envelopes": [{}, ]}',
        b'{"envelopes": [{}]',
        b'{"envelopes": [' + b", ".join([b"{}"] * 1001) + b"]}",
        b"\xff\xfe",
    ],
    ids=[
        "not-json",
        "empty",
        "array",
        "string",
        "no-envelopes",
        "no-envelope",
        "not-a-list",
        "null",
        "extra-member",
        "twice",
        "trailing",
        "trailing-comma",
        "unclosed",
        "1001",
        "not-utf8",
    ],
)
def test_a_bad_body_is_invalid_payload_and_appends_nothing(api, ledger, miner, body):
    before = ledger_snapshot()
    response = post_batch(api, miner, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_payload"
    assert response.json()["error"]["message"]
    assert ledger_snapshot() == before


def test_a_bad_body_around_good_envelopes_appends_none_of_them(api, ledger, miner):
    good = sign_payload(origin_payload(ledger, miner), miner)
    size = Entry.objects.count()
    response = post_batch(api, miner, b'{"envelopes": [' + good + b"], 1}")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_payload"
    assert Entry.objects.count() == size


HUGE = b"9" * 5000  # more digits than Python's int() reads (sys.get_int_max_str_digits)


@pytest.mark.parametrize(
    "where", [b'{"envelopes": [{}], "n": ' + HUGE + b"}", b'{"n": ' + HUGE + b', "envelopes": [{}]}',
              b'{"envelopes": ' + HUGE + b"}", b'{"envelopes": [{}]} ' + HUGE],
    ids=["member-after", "member-before", "as-the-list", "trailing"],
)  # fmt: skip
def test_a_huge_number_around_the_envelopes_is_invalid_payload(api, ledger, miner, where):
    before = ledger_snapshot()
    response = post_batch(api, miner, where)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_payload"
    assert ledger_snapshot() == before


def test_a_huge_number_in_an_envelope_refuses_that_envelope_alone(api, ledger, miner):
    good = sign_payload(origin_payload(ledger, miner), miner)
    inside = good[:-1] + b', "n": ' + HUGE + b"}"
    answer = results(post_batch(api, miner, batch_body(HUGE, inside, good)))
    assert [(r["status"], r.get("error", {}).get("code")) for r in answer] == [
        (400, "malformed_envelope"), (400, "malformed_envelope"), (201, None)
    ]  # fmt: skip
    single = api.post("/api/v1/attestations", data=inside, content_type="application/json", **miner.auth)
    assert (single.status_code, single.json()["error"]["code"]) == (400, "malformed_envelope")


def test_a_thousand_envelopes_are_accepted_and_whitespace_is_no_matter(api, ledger, miner):
    envelopes = [sign_payload(origin_payload(ledger, miner, batch=f"pilbara-mining:k{n}"), miner) for n in range(1000)]
    body = b' \n{ "envelopes" :\t[\n' + b" ,\n ".join(envelopes) + b"\n] }\n"
    assert len(body) > 64 * 1024  # the 64 KiB limit is each envelope's, not the batch's
    size = tlog.current_size()
    answer = results(post_batch(api, miner, body))
    assert [r["status"] for r in answer] == [201] * 1000
    assert [r["entry"]["index"] for r in answer] == list(range(size, size + 1000))
    assert Entry.objects.get(index=size + 999).entry_hash == entry_hash_of(envelopes[-1])


def test_a_body_over_16_mib_is_payload_too_large(api, miner):
    before = ledger_snapshot()
    body = b'{"envelopes": [{}' + b" " * (16 * 1024 * 1024) + b"]}"
    response = post_batch(api, miner, body)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert ledger_snapshot() == before
    just_under = b'{"envelopes": [{}' + b" " * (16 * 1024 * 1024 - 20) + b"]}"
    answer = results(post_batch(api, miner, just_under))
    assert answer == [{"status": 400, "error": answer[0]["error"]}]
    assert answer[0]["error"]["code"] == "malformed_envelope"


# --- who may post, and the throttle ---------------------------------------------


def test_roles_and_authentication_are_those_of_a_single_post(api, ledger, miner, auditor):
    body = batch_body(sign_payload(origin_payload(ledger, miner), miner))
    before = ledger_snapshot()
    unauthenticated = post_batch(api, None, body)
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"]["code"] == "not_authenticated"
    wrong_role = post_batch(api, auditor, body)
    assert wrong_role.status_code == 403 and wrong_role.json()["error"]["code"] == "role_not_allowed"
    assert ledger_snapshot() == before


def test_the_throttle_counts_each_envelope(api, ledger, miner, refiner, monkeypatch):
    cache.clear()
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "5/min"})
    six = [sign_payload(origin_payload(ledger, miner, batch=f"pilbara-mining:t{n}"), miner) for n in range(6)]
    before = ledger_snapshot()
    refused = post_batch(api, miner, batch_body(*six))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    assert ledger_snapshot() == before
    # the refused request itself cost one: four more fit in the budget of five
    assert [r["status"] for r in results(post_batch(api, miner, batch_body(*six[:4])))] == [201] * 4
    assert api.get("/api/v1/attestations/0", **miner.auth).status_code == 429
    # another token has its own budget
    assert post_batch(api, refiner, batch_body(six[4])).status_code == 200
    cache.clear()


def test_the_openapi_schema_describes_the_endpoint():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/attestations/batch"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    assert request == {"$ref": "#/components/schemas/BatchSubmission"}
    envelopes = schema["components"]["schemas"]["BatchSubmission"]["properties"]["envelopes"]
    assert (envelopes["minItems"], envelopes["maxItems"]) == (1, 1000)
    assert set(operation["responses"]) == {"200", "400", "401", "403", "413", "429"}
    result = schema["components"]["schemas"]["BatchResult"]["properties"]
    assert set(result) == {"status", "entry", "error"}
    assert result["entry"] == {"$ref": "#/components/schemas/Receipt"}
