"""GET /api/v1/critical-minerals: public, the names statements may use, in the schema."""

from __future__ import annotations

import pytest
import yaml

from agreements.models import CriticalMineral

pytestmark = pytest.mark.django_db
URL = "/api/v1/critical-minerals"


def test_anyone_reads_the_critical_mineral_names(api):
    response = api.get(URL)
    assert response.status_code == 200
    minerals = response.json()["critical_minerals"]
    names = [mineral["name"] for mineral in minerals]
    assert names == sorted(CriticalMineral.objects.values_list("slug", flat=True))
    assert len(names) == 50
    battery = {mineral["name"] for mineral in minerals if mineral["battery_relevant"]}
    assert {"lithium", "nickel", "cobalt", "manganese", "graphite"} <= battery
    lithium = next(mineral for mineral in minerals if mineral["name"] == "lithium")
    assert lithium == {"name": "lithium", "title": "Lithium", "battery_relevant": True}


def test_a_token_is_not_needed_and_a_bad_one_is_ignored(api):
    assert api.get(URL, HTTP_AUTHORIZATION="Token not-a-token").status_code == 200


def test_the_list_follows_the_rule_data(api):
    CriticalMineral.objects.filter(slug="zinc").delete()
    assert "zinc" not in [mineral["name"] for mineral in api.get(URL).json()["critical_minerals"]]


def test_the_endpoint_and_its_response_are_in_the_openapi_schema(client):
    schema = yaml.safe_load(client.get("/api/schema").content)
    operation = schema["paths"][URL]["get"]
    assert operation["operationId"] == "critical_minerals_list"
    assert operation.get("security", [{}]) == [{}]  # no credentials needed
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CriticalMineralList"}
    listed = schema["components"]["schemas"]["CriticalMineralList"]["properties"]["critical_minerals"]
    assert listed["items"] == {"$ref": "#/components/schemas/CriticalMineral"}
    fields = schema["components"]["schemas"]["CriticalMineral"]["properties"]
    assert set(fields) == {"name", "title", "battery_relevant"}
