"""The statement grammar: every type parses; anything off the contract is refused."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_core.payload import (
    PERJURY_STATEMENT,
    ROLES_FOR_TYPE,
    TYPES,
    PayloadError,
    check_storable,
    parse_statement,
    storable_by_its_text,
    strict_json,
)
from tests.core.grammar_cases import (
    CERTIFY,
    CLAIM,
    HEAD,
    INVALID,
    ORIGIN,
    PERJURY,
    REVOKED_CERTIFICATION,
    SALE,
    SUPPLIER_CERTIFICATION,
    TRANSFER,
    TRANSFORM,
    TRANSFORM_WITH_COSTS,
    mutate,
)


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


def test_a_transform_input_may_carry_its_direct_material_cost():
    """§45X (docs/contract-45x.md): the cost is optional, exact, and zero is a cost."""
    assert [item.direct_material_cost_usd for item in parse(TRANSFORM).inputs] == [None]
    costs = [item.direct_material_cost_usd for item in parse(TRANSFORM_WITH_COSTS).inputs]
    assert costs == [Decimal("1250.50"), Decimal("0")]
    assert parse(TRANSFORM_WITH_COSTS).consumed == {
        "pilbara-mining:ore-1": Decimal("500"),
        "kansai-refining:acid-1": Decimal("5"),
    }


def test_a_supplier_certification_names_its_batch_and_consumes_nothing():
    statement = parse(SUPPLIER_CERTIFICATION)
    assert statement.named_batches == {"pilbara-mining:ore-1": HEAD}
    assert statement.consumed == {}
    assert (statement.taxpayer, statement.taxable_year) == ("detroit-cells", 2026)
    certification = statement.certification
    assert certification.status == "certified" and certification.affirmative
    assert certification.supplier_tin.kind == "foreign" and certification.supplier_tin.value == "51 824 753 556"
    assert certification.direct_material_cost_usd == certification.non_pfe_direct_material_cost_usd == Decimal("800")


@pytest.mark.parametrize("field", ["not_produced_by_pfe", "no_knowledge_of_prior_pfe"])
def test_a_contrary_certification_is_a_valid_statement_that_is_not_affirmative(field):
    """Saying "produced by a PFE" is a fact to record, not a malformed statement."""
    certification = parse({**SUPPLIER_CERTIFICATION, field: False}).certification
    assert certification.status == "certified" and not certification.affirmative


def test_a_revoked_certification_asserts_nothing():
    statement = parse(REVOKED_CERTIFICATION)
    assert statement.named_batches == {"pilbara-mining:ore-1": HEAD}
    assert statement.certification.status == "revoked" and not statement.certification.affirmative
    assert statement.certification.supplier_tin is None and statement.certification.direct_material_cost_usd is None


@pytest.mark.parametrize(
    "tin",
    [
        {"kind": "EIN", "value": "12-3456789"},
        {"kind": "EIN", "sha256": "ab" * 32},
        {"kind": "foreign", "value": "DE811907980"},
        {"kind": "foreign", "value": "124-81-55673"},
        {"kind": "foreign", "sha256": "cd" * 32},
    ],
)
def test_a_supplier_tin_in_clear_or_as_its_digest(tin):
    parsed = parse({**SUPPLIER_CERTIFICATION, "supplier_tin": tin}).certification.supplier_tin
    assert (parsed.kind, parsed.value or None, parsed.sha256 or None) == (
        tin["kind"],
        tin.get("value"),
        tin.get("sha256"),
    )


def test_the_perjury_statement_is_the_contracts():
    assert PERJURY == PERJURY_STATEMENT


def test_a_sale_consumes_its_quantity_and_names_its_buyer():
    statement = parse(SALE)
    assert statement.named_batches == {"detroit-cells:cell-1": HEAD}
    assert statement.consumed == {"detroit-cells:cell-1": Decimal("1000")}
    assert statement.sold_on == dt.date(2026, 11, 2) and statement.binding_contract_on == dt.date(2025, 5, 30)
    assert (statement.buyer.name, statement.buyer.country) == ("Ohio Pack Works", "US")
    without = {key: value for key, value in SALE.items() if key != "binding_contract_on"}
    assert parse(without).binding_contract_on is None


def test_every_type_has_its_issuer_roles():
    assert set(ROLES_FOR_TYPE) == set(TYPES)
    assert ROLES_FOR_TYPE["supplier_certification"] == ROLES_FOR_TYPE["sale"] == ("supplier", "manufacturer")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"direct_material_cost_usd": 12.5}',
        b'{"direct_material_cost_usd": 1e3}',
        b'{"taxable_year": 2026.0}',
    ],
)
def test_costs_and_years_written_as_json_fractions_are_refused_at_parsing(raw):
    document = json.loads(raw)
    key = next(iter(document))
    target = {**SUPPLIER_CERTIFICATION}
    target.pop(key)
    text = json.dumps(target)[:-1] + ", " + raw.decode()[1:]
    with pytest.raises(PayloadError, match="decimal amounts are strings"):
        parse_statement(text.encode())


def test_occurred_at_may_precede_issued_at_but_never_follow_it():
    assert parse({**ORIGIN, "occurred_at": "2024-03-01T10:00:00Z"}).occurred_at.year == 2024
    with pytest.raises(PayloadError, match="occurred_at"):
        parse({**ORIGIN, "occurred_at": "2026-03-01T10:00:01Z"})


@pytest.mark.parametrize(("document", "path", "value", "reason"), INVALID)
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


@pytest.mark.parametrize(
    "character",
    ["\x01", "\x1b", "\x7f", "\x85", "\x9f", "\u061c", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069"],
)
@pytest.mark.parametrize("ascii_only", [True, False], ids=["escaped", "raw"])
def test_control_and_bidi_formatting_characters_are_refused_in_any_string(character, ascii_only):
    """Contract §2 (v1.2): text that would show otherwise than it was signed."""
    for path in (["site", "name"], ["outputs", 0, "material"]):
        document = mutate(ORIGIN, path, f"Green{character}bushes")
        with pytest.raises(PayloadError, match=f"U\\+{ord(character):04X}"):
            parse_statement(json.dumps(document, ensure_ascii=ascii_only).encode())
    certify = mutate(CERTIFY, ["statement"], {f"note{character}": "x"})
    with pytest.raises(PayloadError, match="bidirectional"):
        parse_statement(json.dumps(certify, ensure_ascii=ascii_only).encode())


def test_tabs_line_breaks_and_any_other_letters_stay_allowed():
    name = "Green\tbushes\r\n Ünïcode 日本 \u00a0 ‘quoted’"
    document = mutate(ORIGIN, ["site", "name"], name)
    for ascii_only in (True, False):
        assert parse_statement(json.dumps(document, ensure_ascii=ascii_only).encode()).site.name == name
