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
]
