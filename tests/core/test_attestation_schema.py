"""The JSON Schema of the statement grammar holds to the grammar: every
example and every statement the grammar accepts is valid, every refusal of
the grammar that a schema can express is invalid, and the server serves the
file as distributed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jsonschema
import pytest

from cairn_core import payload
from cairn_core.client.importer import statement_from_csv
from cairn_core.schemas import attestation_schema, attestation_schema_bytes
from tests.core.grammar_cases import (
    CERTIFY,
    CLAIM,
    INVALID,
    ORIGIN,
    REVOKED_CERTIFICATION,
    SALE,
    SUPPLIER_CERTIFICATION,
    TRANSFER,
    TRANSFORM,
    TRANSFORM_WITH_COSTS,
    mutate,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "statements").glob("*.json"))
# Refusals of the grammar no JSON Schema can express (the schema's
# description says so): relations between fields, and judgements of a
# whole document.
BEYOND_A_SCHEMA = {
    "share one unit",
    "same batch twice",
    "consumes",
    "another organisation",
    "cannot exceed",
    "after sold_on",
}


FORTY_FIVE_X = (TRANSFORM_WITH_COSTS, SUPPLIER_CERTIFICATION, REVOKED_CERTIFICATION, SALE)


def validator() -> jsonschema.Draft202012Validator:
    schema = attestation_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_there_is_an_example_of_every_statement_type():
    assert sorted(path.stem for path in EXAMPLES) == sorted(payload.TYPES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_each_example_is_valid_under_the_grammar_and_the_schema(path):
    raw = path.read_bytes()
    assert payload.parse_statement(raw).type == path.stem
    validator().validate(json.loads(raw))


def test_the_grammar_tests_statements_are_valid_under_the_schema():
    for document in (ORIGIN, TRANSFORM, TRANSFER, CERTIFY, CLAIM, *FORTY_FIVE_X):
        validator().validate(document)


@pytest.mark.parametrize(("document", "path", "value", "reason"), INVALID)
def test_each_refusal_of_the_grammar_is_invalid_under_the_schema(document, path, value, reason):
    changed = mutate(document, path, value)
    with pytest.raises(payload.PayloadError):
        payload.parse_statement(json.dumps(changed).encode())
    errors = list(validator().iter_errors(changed))
    assert bool(errors) != (reason in BEYOND_A_SCHEMA), (reason, changed)


def test_the_csv_example_reads_as_statements_of_the_grammar():
    """The importer fills schema, issued_at and prev; with those, each row is valid."""
    with (ROOT / "examples" / "csv" / "history.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    kinds = []
    for row in rows:
        statement = {"schema": payload.SCHEMA, "issued_at": "2026-12-01T09:30:00Z", **statement_from_csv(row)}
        for item in statement.get("inputs", []):
            item.setdefault("prev", "ab" * 32)
        if statement["type"] == "transfer":
            statement.setdefault("prev", "ab" * 32)
        payload.parse_statement(json.dumps(statement).encode())
        validator().validate(statement)
        kinds.append(statement["type"])
    assert kinds == ["origin", "origin", "transform", "transfer"]


@pytest.mark.django_db
def test_the_server_serves_the_schema_as_distributed(client):
    response = client.get("/api/v1/attestations/schema")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/schema+json"
    assert response.content == attestation_schema_bytes()
    assert client.post("/api/v1/attestations/schema").status_code == 405
