"""A supplier reads its own data (contract §5, v1.2): GET /attestations,
GET /batches, GET /keys, paginated, with the single reads' permissions: a
second supplier sees none of the first's data."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from provenance.models import Entry
from tests.support import mine_to_claim

VIN = "1HGCM82633A004352"


def pages(api, party, path: str, key: str, limit: int) -> list[list]:
    """Every page of a list, following `next`."""
    found, after = [], None
    while True:
        query = f"{path}{'&' if '?' in path else '?'}limit={limit}" + (f"&after={after}" if after is not None else "")
        response = api.get(query, **party.auth)
        assert response.status_code == 200, response.content
        body = response.json()
        found.append(body[key])
        if body["next"] is None:
            return found
        after = body["next"]


def test_each_organisation_lists_the_entries_that_name_it(api, ledger, miner, refiner, maker, auditor, stranger):
    mine_to_claim(ledger, miner, refiner, maker, VIN)
    ledger.origin(stranger)
    for party in (miner, refiner, maker, stranger):
        listed = [entry for page in pages(api, party, "/api/v1/attestations", "entries", 2) for entry in page]
        readable = [
            entry.index
            for entry in Entry.objects.order_by("index")
            if api.get(f"/api/v1/attestations/{entry.index}", **party.auth).status_code == 200
        ]
        assert [entry["index"] for entry in listed] == readable and readable, party.slug
        single = api.get(f"/api/v1/attestations/{listed[0]['index']}", **party.auth).json()
        assert listed[0] == single  # each item is the single read's body
    theirs = {e["index"] for page in pages(api, stranger, "/api/v1/attestations", "entries", 100) for e in page}
    mine = {e["index"] for page in pages(api, miner, "/api/v1/attestations", "entries", 100) for e in page}
    assert not theirs & mine
    everything = [e for page in pages(api, auditor, "/api/v1/attestations", "entries", 1000) for e in page]
    assert [e["index"] for e in everything] == list(Entry.objects.order_by("index").values_list("index", flat=True))


def test_a_page_of_entries_costs_a_fixed_number_of_queries(api, ledger, miner, refiner, maker):
    mine_to_claim(ledger, miner, refiner, maker, VIN)
    api.get("/api/v1/attestations?limit=1", **maker.auth)
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/attestations?limit=1", **maker.auth)
    with CaptureQueriesContext(connection) as many:
        api.get("/api/v1/attestations?limit=1000", **maker.auth)
    assert len(many) == len(few)


def test_batches_in_ones_own_custody_and_an_auditors_view(api, ledger, miner, refiner, maker, auditor, stranger):
    batches = mine_to_claim(ledger, miner, refiner, maker, VIN)
    ledger.origin(stranger)
    held = [b for page in pages(api, maker, "/api/v1/batches", "batches", 1) for b in page]
    assert [b["id"] for b in held] == sorted([batches["hydroxide"], batches["cells"], batches["pack"]])
    single = api.get(f"/api/v1/batches/{held[0]['id']}", **maker.auth).json()
    assert held[0] == {key: value for key, value in single.items() if key != "entries"}
    assert [b["id"] for page in pages(api, refiner, "/api/v1/batches", "batches", 10) for b in page] == [batches["ore"]]
    refused = api.get(f"/api/v1/batches?custodian={maker.slug}", **stranger.auth)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    for_auditor = pages(api, auditor, f"/api/v1/batches?custodian={maker.slug}", "batches", 1000)
    assert [b["id"] for b in for_auditor[0]] == [b["id"] for b in held]
    stranger_sees = [b["id"] for page in pages(api, stranger, "/api/v1/batches", "batches", 100) for b in page]
    assert stranger_sees and not set(stranger_sees) & set(batches.values())


def test_keys_an_organisation_has_and_every_key_for_an_auditor(api, miner, refiner, auditor):
    mine = api.get("/api/v1/keys", **miner.auth).json()["keys"]
    assert [key["keyid"] for key in mine] == [miner.keyid]
    assert set(mine[0]) == {"keyid", "public_key", "registered_at", "revoked_at"}
    assert mine[0]["revoked_at"] is None
    every = api.get("/api/v1/keys", **auditor.auth).json()["keys"]
    assert {(key["organization"], key["keyid"]) for key in every} >= {
        (miner.slug, miner.keyid),
        (refiner.slug, refiner.keyid),
    }
    assert api.get("/api/v1/keys").status_code == 401


def test_bad_paging_parameters_are_400_and_reads_need_a_token(api, miner, auditor):
    for query in ("limit=0", "limit=1001", "limit=x", "after=-2", "after=1.5", "after=" + "9" * 30):
        response = api.get(f"/api/v1/attestations?{query}", **miner.auth)
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request", query
    assert api.get("/api/v1/batches?limit=0", **miner.auth).status_code == 400
    # What no batch id or slug can hold (a NUL PostgreSQL refuses outright) is a 400, not a 500.
    for query in ("after=a%00b", "after=no-colon", "custodian=a%00b", "custodian=Not%20A%20Slug"):
        response = api.get(f"/api/v1/batches?{query}", **auditor.auth)
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request", query
    assert api.get("/api/v1/attestations").status_code == 401
    assert api.get("/api/v1/batches").status_code == 401
