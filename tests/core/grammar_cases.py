"""Statements of every type and the grammar's refusals, as data: the grammar's
tests (test_payload.py) and the JSON Schema's (test_attestation_schema.py)
read the same cases."""

from __future__ import annotations

import copy

HEAD = "ab" * 32
BASE = {"schema": "cairn.attestation/v1", "issuer": "pilbara-mining", "issued_at": "2026-03-01T10:00:00Z"}
ORIGIN = {
    **BASE,
    "type": "origin",
    "activity": "extraction",
    "site": {"name": "Greenbushes", "country": "AU"},
    "outputs": [
        {
            "batch": "pilbara-mining:ore-1",
            "material": "spodumene",
            "quantity": "1000",
            "unit": "kg",
            "minerals": {"lithium": "60.5"},
            "value_added_usd": "1200",
        }
    ],
}
TRANSFORM = {
    **BASE,
    "type": "transform",
    "activity": "processing",
    "site": {"name": "Kwinana", "country": "AU"},
    "inputs": [{"batch": "pilbara-mining:ore-1", "prev": HEAD, "quantity": "500"}],
    "outputs": [
        {
            "batch": "pilbara-mining:lioh-1",
            "material": "LiOH",
            "quantity": "80",
            "unit": "kg",
            "value_added_usd": "900",
            "component": "cathode_electrode",
        },
        {"batch": "pilbara-mining:lioh-2", "material": "LiOH", "quantity": "20", "unit": "kg", "value_added_usd": "0"},
    ],
}
TRANSFER = {**BASE, "type": "transfer", "batch": "pilbara-mining:ore-1", "prev": HEAD, "to": "kansai-refining"}
CERTIFY = {
    **BASE,
    "type": "certify",
    "batch": "pilbara-mining:ore-1",
    "prev": HEAD,
    "statement": {"assay": {"Li2O": "6.1%"}},
    "documents": [{"name": "a.pdf", "sha256": "cd" * 32}],
}
PERJURY = (
    "Under penalties of perjury, I declare that I have examined this certification "
    "and to the best of my knowledge and belief it is true, correct, and complete."
)
TRANSFORM_WITH_COSTS = {
    **TRANSFORM,
    "inputs": [
        {"batch": "pilbara-mining:ore-1", "prev": HEAD, "quantity": "500", "direct_material_cost_usd": "1250.50"},
        {"batch": "kansai-refining:acid-1", "prev": HEAD, "quantity": "5", "direct_material_cost_usd": "0"},
    ],
}
SUPPLIER_CERTIFICATION = {
    **BASE,
    "type": "supplier_certification",
    "batch": "pilbara-mining:ore-1",
    "prev": HEAD,
    "taxpayer": "detroit-cells",
    "taxable_year": 2026,
    "status": "certified",
    "supplier_tin": {"kind": "foreign", "value": "51 824 753 556"},
    "not_produced_by_pfe": True,
    "no_knowledge_of_prior_pfe": True,
    "direct_material_cost_usd": "800",
    "non_pfe_direct_material_cost_usd": "800",
    "penalties_of_perjury": PERJURY,
}
REVOKED_CERTIFICATION = {
    **BASE,
    "type": "supplier_certification",
    "batch": "pilbara-mining:ore-1",
    "prev": HEAD,
    "taxpayer": "detroit-cells",
    "taxable_year": 2026,
    "status": "revoked",
}
SALE = {
    **BASE,
    "issuer": "detroit-cells",
    "type": "sale",
    "batch": "detroit-cells:cell-1",
    "prev": HEAD,
    "quantity": "1000",
    "sold_on": "2026-11-02",
    "buyer": {"name": "Ohio Pack Works", "country": "US"},
    "binding_contract_on": "2025-05-30",
}
CLAIM = {
    **BASE,
    "type": "claim",
    "batch": "detroit-cells:pack-1",
    "prev": HEAD,
    "quantity": "1",
    "vin": "1HGCM82633A004352",
    "acquired": "2024-05-01",
    "placed_in_service": "2024-05-20",
    "final_assembly": {"name": "Plant", "country": "US"},
}


def mutate(document, path, value):
    changed = copy.deepcopy(document)
    target = changed
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


# (document, path to change, new value or KeyError to remove it, the reason the grammar gives)
INVALID = [
    (ORIGIN, ["schema"], "cairn.attestation/v2", "schema"),
    (ORIGIN, ["type"], "mint", "type"),
    (ORIGIN, ["extra"], 1, "unknown field"),
    (ORIGIN, ["issuer"], "Bad_Slug", "issuer"),
    (ORIGIN, ["issued_at"], "2026-03-01 10:00:00", "issued_at"),
    (ORIGIN, ["issued_at"], "2026-02-30T10:00:00Z", "real time"),
    (ORIGIN, ["activity"], "processing", "activity"),
    (ORIGIN, ["site", "country"], "aus", "country"),
    (ORIGIN, ["outputs"], [], "outputs"),
    (ORIGIN, ["outputs", 0, "minerals"], KeyError, "lacks minerals"),
    (ORIGIN, ["outputs", 0, "minerals"], {}, "at least one"),
    (ORIGIN, ["outputs", 0, "quantity"], "0", "greater than zero"),
    (ORIGIN, ["outputs", 0, "quantity"], "-5", "decimal"),
    (ORIGIN, ["outputs", 0, "quantity"], "1e3", "decimal"),
    (ORIGIN, ["outputs", 0, "unit"], "t", "unit"),
    (ORIGIN, ["outputs", 0, "value_added_usd"], KeyError, "value_added_usd"),
    (ORIGIN, ["outputs", 0, "component"], "battery_cell", "unknown field"),
    (ORIGIN, ["outputs", 0, "batch"], "no-prefix", "batch id"),
    (TRANSFORM, ["outputs", 0, "minerals"], {"lithium": "1"}, "unknown field"),
    (TRANSFORM, ["outputs", 0, "component"], "flux_capacitor", "component"),
    (TRANSFORM, ["outputs", 1, "unit"], "unit", "share one unit"),
    (TRANSFORM, ["outputs", 1, "batch"], "pilbara-mining:lioh-1", "same batch twice"),
    (TRANSFORM, ["outputs", 1, "batch"], "pilbara-mining:ore-1", "consumes"),
    (TRANSFORM, ["inputs", 0, "prev"], "AB" * 32, "hex"),
    (TRANSFORM, ["inputs"], [], "inputs"),
    (TRANSFER, ["to"], "pilbara-mining", "another organisation"),
    (CERTIFY, ["documents", 0, "sha256"], "xyz", "SHA-256"),
    (CERTIFY, ["statement"], "text", "statement"),
    (CLAIM, ["vin"], "1HGCM82633A00435O", "VIN"),
    (CLAIM, ["acquired"], "2024-13-01", "real date"),
    (CLAIM, ["final_assembly"], {"name": "x"}, "country"),
    # §45X (docs/contract-45x.md): a transform input's cost
    (TRANSFORM_WITH_COSTS, ["inputs", 0, "direct_material_cost_usd"], "-1", "decimal"),
    (TRANSFORM_WITH_COSTS, ["inputs", 0, "direct_material_cost_usd"], "1e3", "decimal"),
    (TRANSFORM_WITH_COSTS, ["inputs", 0, "direct_material_cost_usd"], "12,5", "decimal"),
    (TRANSFORM_WITH_COSTS, ["inputs", 0, "direct_material_cost_usd"], "", "decimal"),
    (TRANSFORM_WITH_COSTS, ["inputs", 0, "direct_material_cost_usd"], 12, "decimal"),
    (TRANSFORM_WITH_COSTS, ["inputs", 0, "direct_material_cost_usd"], None, "decimal"),
    (TRANSFORM_WITH_COSTS, ["inputs", 0, "direct_material_cost_usd"], "0.0000000001", "decimal"),
    (TRANSFORM_WITH_COSTS, ["outputs", 0, "direct_material_cost_usd"], "5", "unknown field"),
    (ORIGIN, ["outputs", 0, "direct_material_cost_usd"], "5", "unknown field"),
    (ORIGIN, ["direct_material_cost_usd"], "5", "unknown field"),
    (CLAIM, ["direct_material_cost_usd"], "5", "unknown field"),
    # §45X: a supplier certification
    (SUPPLIER_CERTIFICATION, ["penalties_of_perjury"], KeyError, "lacks penalties_of_perjury"),
    (SUPPLIER_CERTIFICATION, ["penalties_of_perjury"], PERJURY.lower(), "exactly"),
    (SUPPLIER_CERTIFICATION, ["penalties_of_perjury"], PERJURY + " ", "exactly"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], KeyError, "lacks supplier_tin"),
    (SUPPLIER_CERTIFICATION, ["not_produced_by_pfe"], KeyError, "lacks not_produced_by_pfe"),
    (SUPPLIER_CERTIFICATION, ["not_produced_by_pfe"], "true", "true or false"),
    (SUPPLIER_CERTIFICATION, ["no_knowledge_of_prior_pfe"], 1, "true or false"),
    (SUPPLIER_CERTIFICATION, ["direct_material_cost_usd"], "-800", "decimal"),
    (SUPPLIER_CERTIFICATION, ["direct_material_cost_usd"], "8e2", "decimal"),
    (SUPPLIER_CERTIFICATION, ["non_pfe_direct_material_cost_usd"], "800.01", "cannot exceed"),
    (SUPPLIER_CERTIFICATION, ["non_pfe_direct_material_cost_usd"], KeyError, "lacks non_pfe"),
    (SUPPLIER_CERTIFICATION, ["status"], "withdrawn", "status"),
    (SUPPLIER_CERTIFICATION, ["status"], "revoked", "asserts nothing"),
    (REVOKED_CERTIFICATION, ["not_produced_by_pfe"], True, "asserts nothing"),
    (REVOKED_CERTIFICATION, ["penalties_of_perjury"], PERJURY, "asserts nothing"),
    (SUPPLIER_CERTIFICATION, ["taxable_year"], "2026", "taxable_year"),
    (SUPPLIER_CERTIFICATION, ["taxable_year"], 2024, "taxable_year"),
    (SUPPLIER_CERTIFICATION, ["taxable_year"], 2101, "taxable_year"),
    (SUPPLIER_CERTIFICATION, ["taxable_year"], True, "taxable_year"),
    (SUPPLIER_CERTIFICATION, ["taxable_year"], KeyError, "lacks taxable_year"),
    (SUPPLIER_CERTIFICATION, ["taxpayer"], "Detroit Cells", "taxpayer"),
    (SUPPLIER_CERTIFICATION, ["taxpayer"], "pilbara-mining", "another organisation"),
    (SUPPLIER_CERTIFICATION, ["prev"], KeyError, "lacks prev"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], "12-3456789", "supplier_tin must be an object"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], {"kind": "EIN", "value": "123456789"}, "NN-NNNNNNN"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], {"kind": "EIN", "value": "12-345678"}, "NN-NNNNNNN"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], {"kind": "EIN", "value": 123456789}, "NN-NNNNNNN"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], {"kind": "SSN", "value": "123-45-6789"}, "kind"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], {"kind": "foreign"}, "exactly one"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], {"kind": "foreign", "value": "1", "sha256": "ab" * 32}, "exactly one"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], {"kind": "foreign", "value": " 51 824"}, "foreign tax id"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], {"kind": "foreign", "value": "51  824"}, "foreign tax id"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], {"kind": "foreign", "value": "9" * 51}, "foreign tax id"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], {"kind": "EIN", "sha256": "AB" * 32}, "SHA-256"),
    (SUPPLIER_CERTIFICATION, ["supplier_tin"], {"kind": "EIN", "value": "12-3456789", "name": "x"}, "unknown"),
    (SUPPLIER_CERTIFICATION, ["quantity"], "1", "unknown field"),
    # §45X: a sale
    (SALE, ["quantity"], "0", "greater than zero"),
    (SALE, ["quantity"], 1000, "decimal"),
    (SALE, ["sold_on"], "2026-11-31", "real date"),
    (SALE, ["sold_on"], KeyError, "lacks sold_on"),
    (SALE, ["buyer"], {"name": "Ohio Pack Works"}, "lacks country"),
    (SALE, ["buyer", "country"], "USA", "country"),
    (SALE, ["binding_contract_on"], "2026-11-03", "after sold_on"),
    (SALE, ["binding_contract_on"], "30/05/2025", "date"),
    (SALE, ["to"], "ohio-pack", "unknown field"),
]
