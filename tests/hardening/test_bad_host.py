"""A Host header not in ALLOWED_HOSTS: the contract's JSON 400 on the API and
/health, Django's page elsewhere; nothing stored."""

import pytest

from tests.support import ledger_snapshot

pytestmark = pytest.mark.django_db

EVIL = "evil.example"


@pytest.mark.parametrize("path", ["/api/v1/log/key", "/api/v1/attestations", "/api/v1/nothing", "/health"])
def test_a_bad_host_gets_the_contracts_400_body(client, path):
    response = client.get(path, HTTP_HOST=EVIL)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert "ALLOWED_HOSTS" in error["message"]


def test_a_post_with_a_bad_host_stores_nothing(client, miner):
    before = ledger_snapshot()
    response = client.post(
        "/api/v1/attestations", data=b"{}", content_type="application/json", HTTP_HOST=EVIL, **miner.auth
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
    assert ledger_snapshot() == before


def test_the_admin_keeps_djangos_page(client):
    response = client.get("/admin/login/", HTTP_HOST=EVIL)
    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json")
