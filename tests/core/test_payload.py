"""The statement grammar: every type parses; anything off the contract is refused."""

import copy
import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_core.payload import PayloadError, check_storable, parse_statement, storable_by_its_text, strict_json

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


def parse(document: dict):
    return parse_statement(json.dumps(document).encode())


def test_origin_parses_to_typed_outputs():
    statement = parse(ORIGIN)
    assert statement.type == "origin"
    assert statement.issued_at == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    assert statement.occurred_at == statement.issued_at
    (output,) = statement.outputs
    assert output.quantity == Decimal("1000")
    assert output.minerals == {"lithium": Decimal("60.5")}
    assert statement.minerals == frozenset({"lithium"})
    assert statement.named_batches == {}


def test_transform_names_inputs_with_prev_and_consumption():
    statement = parse(TRANSFORM)
    assert statement.named_batches == {"pilbara-mining:ore-1": HEAD}
    assert statement.consumed == {"pilbara-mining:ore-1": Decimal("500")}
    assert [output.component for output in statement.outputs] == ["cathode_electrode", ""]


def test_transfer_certify_and_claim_name_one_batch():
    assert parse(TRANSFER).to == "kansai-refining"
    assert parse(CERTIFY).named_batches == {"pilbara-mining:ore-1": HEAD}
    claim = parse(CLAIM)
    assert claim.consumed == {"detroit-cells:pack-1": Decimal("1")}
    assert claim.acquired == dt.date(2024, 5, 1)
    assert claim.final_assembly.country == "US"


def test_occurred_at_may_precede_issued_at_but_never_follow_it():
    assert parse({**ORIGIN, "occurred_at": "2024-03-01T10:00:00Z"}).occurred_at.year == 2024
    with pytest.raises(PayloadError, match="occurred_at"):
        parse({**ORIGIN, "occurred_at": "2026-03-01T10:00:01Z"})


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


@pytest.mark.parametrize(
    ("document", "path", "value", "reason"),
    [
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
    ],
)
def test_invalid_statements_name_their_fault(document, path, value, reason):
    with pytest.raises(PayloadError, match=reason):
        parse(mutate(document, path, value))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"schema":"cairn.attestation/v1","schema":"cairn.attestation/v1"}',
        b'{"quantity": NaN}',
        b'{"quantity": Infinity}',
        b'{"quantity": 1.5}',
        b"[1, 2]",
        b"\xff\xfe",
    ],
    ids=["duplicate-key", "nan", "infinity", "float", "not-object", "not-utf8"],
)
def test_json_is_parsed_strictly(raw):
    with pytest.raises(PayloadError):
        parse_statement(raw)


# --- the storable check read from the text -------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters(exclude_categories=()), max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(exclude_categories=()), max_size=4), children, max_size=4)
    ),
    max_leaves=40,
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(_json_values, st.booleans())
def test_a_text_judged_storable_holds_a_storable_document(document, ascii_only):
    """`storable_by_its_text` may skip the walk only where the walk would pass:
    NUL, lone surrogates (escaped, as json.dumps writes them) and deep nesting
    are caught by one or the other, never by neither."""
    text = json.dumps(document, ensure_ascii=ascii_only)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return  # a lone surrogate written raw is not UTF-8: no client can send it
    if storable_by_its_text(text):
        check_storable(json.loads(text))


@pytest.mark.parametrize(
    "text",
    ['{"a": "\\u0000"}', '{"\\ud800": 1}', '["\\uDFFF"]', "[" * 33 + "]" * 33, '{"a": "x\\u0000"}'],
)
def test_what_the_walk_refuses_is_never_judged_storable_by_its_text(text):
    assert not storable_by_its_text(text)
    with pytest.raises(PayloadError):
        strict_json(text.encode())


@pytest.mark.parametrize("text", ['{"a": "\\ud83d\\ude00"}', '{"a": "[[[[" }', '{"a": "\\\\u0000"}'])
def test_escaped_pairs_brackets_in_strings_and_escaped_backslashes_are_stored(text):
    assert strict_json(text.encode()) == json.loads(text)
