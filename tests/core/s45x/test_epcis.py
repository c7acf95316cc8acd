"""The §45X statements in an EPCIS export: valid events that show no cost and no taxpayer id."""

from __future__ import annotations

import json

from cairn_core import epcis
from cairn_core.epcis_ids import Identifiers
from tests.core.grammar_cases import REVOKED_CERTIFICATION, SALE, SUPPLIER_CERTIFICATION, TRANSFORM_WITH_COSTS
from tests.epcis_schema import errors

IDS = Identifiers.for_origin("ledger.example.com/cairn")


def exported(statements: list[dict]) -> dict:
    logged = [
        epcis.LoggedStatement(i, f"{i:064x}", f"{i + 7:064x}", 1_767_225_600 + i, s) for i, s in enumerate(statements)
    ]
    return json.loads(epcis.dumps(epcis.document(logged, IDS, created="2026-01-01T00:00:00Z")))


def test_certifications_sales_and_costed_transforms_are_valid_events_without_the_sensitive_figures():
    document = exported([TRANSFORM_WITH_COSTS, SUPPLIER_CERTIFICATION, REVOKED_CERTIFICATION, SALE])
    assert errors(document) == []
    text = json.dumps(document)
    for secret in ("1250.50", "direct_material_cost", "51 824 753 556", "supplier_tin", "penalties"):
        assert secret not in text
    transform, certified, revoked, sale = document["epcisBody"]["eventList"]
    assert certified["cairn:certification"]["cairn:taxable_year"] == 2026
    assert certified["cairn:certification"]["cairn:not_produced_by_pfe"] is True
    assert "cairn:not_produced_by_pfe" not in revoked["cairn:certification"]
    assert (sale["cairn:sold_on"], sale["cairn:buyer_country"]) == ("2026-11-02", "US")
    assert sale["quantityList"][0]["quantity"] == 1000
