"""The issuer taken from the token's organisation (GET /organization) when a
statement names none and none is given: `cairn sign`, `cairn post`, `cairn
import` and the SDK."""

from __future__ import annotations

import json

import pytest

from cairn_core.client import Client, keys, statements
from provenance.models import Entry
from tests.client.spreadsheets import excel_rows, write_excel

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ORIGIN = {
    "type": "origin",
    "activity": "extraction",
    "site": {"name": "Pilgangoora", "country": "AU"},
    "outputs": [{"batch": "pilbara-mining:own-1", "material": "spodumene", "quantity": "10", "unit": "kg",
                 "minerals": {"lithium": "1"}, "value_added_usd": "5"}],
}  # fmt: skip


def test_the_organization_endpoint_names_the_tokens_organisation(miner):  # noqa: F811
    client = Client(miner.url, miner.token)
    assert client.organization() == {"slug": "pilbara-mining", "name": "Pilbara-Mining", "country": "AU",
                                     "roles": ["supplier"]}  # fmt: skip
    assert Client(miner.url, None).request("GET", "/log/key").status_code == 200
    with pytest.raises(Exception, match="not_authenticated"):
        Client(miner.url, None).organization()


def test_cairn_sign_and_post_fill_the_issuer_from_the_token(miner):  # noqa: F811
    path = miner.write("origin.json", ORIGIN)
    envelope = json.loads(miner.cairn("sign", str(path)).stdout)
    assert statements.statement_of(envelope)["issuer"] == "pilbara-mining"
    posted = miner.cairn_json("post", str(path))
    assert posted["status"] == 201
    assert Entry.objects.get(index=posted["entry"]["index"]).issuer_id == "pilbara-mining"


def test_the_sdk_and_the_import_fill_it_too(miner):  # noqa: F811
    client = Client(miner.url, miner.token)
    statement = {**ORIGIN, "outputs": [{**ORIGIN["outputs"][0], "batch": "pilbara-mining:own-2"}]}
    assert client.post(statement, key=keys.load(miner.key))["status"] == 201
    source = write_excel(miner.home / "shipments.csv", excel_rows({})[:4])
    assert miner.cairn_json("import", str(source))["created"] == 4  # no --issuer, no CAIRN_ISSUER
    assert set(Entry.objects.exclude(type="ledger").values_list("issuer_id", flat=True)) == {"pilbara-mining"}
