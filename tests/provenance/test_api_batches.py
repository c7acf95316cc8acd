"""GET /batches/{id} and /batches/{id}/provenance: shapes, figures and who may read."""

from provenance import tlog
from tests.support import mine_to_claim


def test_batch_shows_state_and_its_entries(api, ledger, miner, refiner, maker):
    size = tlog.current_size()  # the personas' ledger entries (contract §12) come first
    batches = mine_to_claim(ledger, miner, refiner, maker, "1HGCM82633A004352")
    response = api.get(f"/api/v1/batches/{batches['ore']}", **refiner.auth)
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("id", "unit", "quantity", "remaining", "custodian")} == {
        "id": batches["ore"],
        "unit": "kg",
        "quantity": "1000",
        "remaining": "0",
        "custodian": refiner.slug,
    }
    assert [(e["index"], e["type"]) for e in body["entries"]] == [
        (size, "origin"),
        (size + 1, "transfer"),
        (size + 2, "transform"),
    ]
    assert body["head"] == body["entries"][-1]["entry_hash"]


def test_past_custodians_and_auditors_read_others_get_not_found(api, ledger, miner, refiner, maker, stranger, auditor):
    batches = mine_to_claim(ledger, miner, refiner, maker, "1HGCM82633A004352")
    for reader in (miner, refiner, auditor):  # miner was custodian before the transfer
        assert api.get(f"/api/v1/batches/{batches['ore']}", **reader.auth).status_code == 200
    for path in (
        f"/api/v1/batches/{batches['ore']}",
        f"/api/v1/batches/{batches['ore']}/provenance",
        "/api/v1/batches/pilbara-mining:nothing",
    ):
        response = api.get(path, **stranger.auth)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert api.get(f"/api/v1/batches/{batches['ore']}").status_code == 401


def test_provenance_attributes_origin_minerals_along_the_dag(api, ledger, miner, refiner, maker):
    # two mines feed one refinery run; the hydroxide is split 3:1 and a quarter goes on
    ore_a = ledger.origin(miner, minerals={"lithium": "60"}, quantity="1000", country="AU")
    ore_b = ledger.origin(miner, minerals={"lithium": "30", "cobalt": "10"}, quantity="500", country="AU")
    (lioh,) = ledger.transform(miner, [(ore_a, "1000"), (ore_b, "250")], [{"quantity": "100"}], country="AU")
    (big, small) = ledger.transform(
        miner, [(lioh, "100")], [{"quantity": "75"}, {"quantity": "25"}], activity="split", country="AU"
    )
    response = api.get(f"/api/v1/batches/{small}/provenance", **miner.auth)
    assert response.status_code == 200
    body = response.json()
    assert {node["id"] for node in body["nodes"]} == {ore_a, ore_b, lioh, small}
    nodes = {node["id"]: node for node in body["nodes"]}
    assert nodes[ore_a] | {"agreements": None} == {
        "id": ore_a,
        "material": "spodumene concentrate",
        "unit": "kg",
        "quantity": "1000",
        "custodian": miner.slug,
        "country": "AU",
        "agreements": None,
    }
    assert {a["agreement"] for a in nodes[ore_a]["agreements"]} == {"us-au-fta"}
    edges = {(e["from"], e["to"]): e for e in body["edges"]}
    assert edges[(lioh, small)]["quantity"] == "25"
    assert edges[(ore_a, lioh)]["quantity"] == "1000"
    assert edges[(ore_b, lioh)]["quantity"] == "250"
    origins = {origin["batch"]: origin for origin in body["origins"]}
    # small is 1/4 of lioh, which took all of ore_a and half of ore_b
    assert origins[ore_a] == {"batch": ore_a, "country": "AU", "minerals": {"lithium": "15"}}
    assert origins[ore_b]["minerals"] == {"cobalt": "1.25", "lithium": "3.75"}
    assert big not in nodes


def test_openapi_schema_and_swagger_ui_are_served_locally(client):
    schema = client.get("/api/schema")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/v1/attestations", "/api/v1/batches/{batch_id}/provenance", "/api/v1/keys"):
        assert path in text
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower() and "/static/drf_spectacular_sidecar/" in html
