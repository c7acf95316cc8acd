"""Strict parsing of attestation payloads (Cairn contract §3).

The payload is a JSON object, `schema` "cairn.attestation/v1", one of seven
types: the five of the contract and the two of its §45X addition
(docs/contract-45x.md: `supplier_certification` and `sale`, and a transform
input's optional `direct_material_cost_usd`). Parsing is strict: duplicate keys, NaN/Infinity, floats where a
decimal string is due, and unknown fields are all errors. The result is a
typed Statement that the write path (provenance.append.checks) works from.

No Django import: this is the statement grammar, readable as a spec.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeAlias, TypedDict

from cairn_core import amounts, json_strict

SCHEMA = "cairn.attestation/v1"
PAYLOAD_TYPE = "application/vnd.cairn.attestation+json"

TYPES = ("origin", "transform", "transfer", "certify", "claim", "supplier_certification", "sale")
ORIGIN_ACTIVITIES = ("extraction", "recycling")
TRANSFORM_ACTIVITIES = ("processing", "manufacturing", "assembly", "split")
UNITS = ("kg", "unit")
COMPONENTS = (
    "cathode_electrode",
    "anode_electrode",
    "solid_metal_electrode",
    "separator",
    "liquid_electrolyte",
    "solid_state_electrolyte",
    "battery_cell",
    "battery_module",
    "battery_pack",
)
# Which organisation roles may issue each type (contract §1).
ROLES_FOR_TYPE = {
    "origin": ("supplier",),
    "transform": ("supplier", "manufacturer"),
    "transfer": ("supplier", "manufacturer"),
    "certify": ("certifier",),
    "claim": ("manufacturer",),
    "supplier_certification": ("supplier", "manufacturer"),
    "sale": ("supplier", "manufacturer"),
}
# A supplier certification's status, and the kinds of taxpayer id it carries
# (docs/contract-45x.md).
CERTIFICATION_STATUSES = ("certified", "revoked")
TIN_KINDS = ("EIN", "foreign")
# The declaration a certification carries, character for character (26 U.S.C.
# §7701(a)(52)(D)(iii): signed under penalties of perjury).
PERJURY_STATEMENT = (
    "Under penalties of perjury, I declare that I have examined this certification "
    "and to the best of my knowledge and belief it is true, correct, and complete."
)
# The fields a "certified" certification carries and a "revoked" one does not.
CERTIFIED_FIELDS = frozenset(
    {
        "supplier_tin",
        "not_produced_by_pfe",
        "no_knowledge_of_prior_pfe",
        "direct_material_cost_usd",
        "non_pfe_direct_material_cost_usd",
        "penalties_of_perjury",
    }
)
# Taxable years a certification may name: none before the material
# assistance rules (P.L. 119-21, 2025), none absurdly far ahead.
FIRST_TAXABLE_YEAR = 2025
LAST_TAXABLE_YEAR = 2100

SLUG = re.compile(r"\A[a-z0-9][a-z0-9-]{1,62}\Z")
BATCH_ID = re.compile(r"\A([a-z0-9][a-z0-9-]{1,62}):[A-Za-z0-9._-]{1,64}\Z")
HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
DECIMAL = re.compile(r"\A(0|[1-9][0-9]{0,20})(\.[0-9]{1,9})?\Z")
TIMESTAMP = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z\Z")
DATE = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")
COUNTRY = re.compile(r"\A[A-Z]{2}\Z")
MINERAL = re.compile(r"\A[a-z][a-z_]{1,40}\Z")
VIN = re.compile(r"\A[A-HJ-NPR-Z0-9]{17}\Z")
# An EIN as the IRS writes it (NN-NNNNNNN); a foreign tax id as letters and
# digits, possibly separated by single spaces, dots, slashes or hyphens.
EIN = re.compile(r"\A[0-9]{2}-[0-9]{7}\Z")
FOREIGN_TIN = re.compile(r"\A[A-Za-z0-9]+(?:[ ./-][A-Za-z0-9]+)*\Z")
MAX_TIN_LENGTH = 50

# Bounds on what a JSON document may hold (docs/decisions.md):
# nesting deeper than this, integers longer than this, and strings holding
# NUL or a lone surrogate (which no database stores alike) are refused.
MAX_DEPTH = 32
MAX_INT_DIGITS = 40
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# In JSON text decoded from UTF-8 only a \u escape can give a string NUL or a
# lone surrogate: json.loads refuses raw control characters in strings, and
# UTF-8 decoding refuses encoded surrogates. (Escaped surrogate pairs match
# too, and take the full check.)
ESCAPED_UNSTORABLE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
# Characters no string of a payload may hold (contract §2, v1.2): C0
# controls other than tab, line feed and carriage return, DEL, C1 controls,
# and the bidirectional formatting characters, which can make a terminal or
# a page show text other than what was signed.
UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What in a JSON text can put one there: the raw character (json.loads
# refuses raw C0 controls itself) or a \u escape of one.
MAY_BE_UNPRINTABLE = re.compile(
    "[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
    r"|\\u(?:00[01][0-9a-fA-F]|007[fF]|00[89][0-9a-fA-F]|061[cC]|200[eEfF]|202[a-eA-E]|206[6-9])"
)
# No physical activity in the ledger happened before this (occurred_at and
# a claim's dates): earlier values are typing errors, not history.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

COMMON_REQUIRED = {"schema", "type", "issuer", "issued_at"}
COMMON_OPTIONAL = {"occurred_at"}


# A JSON document as `json.loads` returns it, before any check.
JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None
# A JSON object whose readers index it by trying, and name the KeyError,
# TypeError or ValueError a malformed one raises (a signed statement read
# back from the log or a bundle): its values are typed dynamically.
JSONObject: TypeAlias = dict[str, Any]


class PayloadError(ValueError):
    """The payload is not a valid attestation statement."""


@dataclass(frozen=True)
class Site:
    name: str
    country: str


@dataclass(frozen=True)
class Output:
    batch: str
    material: str
    quantity: Decimal
    unit: str
    value_added_usd: Decimal
    minerals: dict[str, Decimal] = field(default_factory=dict)
    component: str = ""


@dataclass(frozen=True)
class Input:
    batch: str
    prev: str
    quantity: Decimal
    # The issuer's direct material cost of the quantity consumed (§45X), if given.
    direct_material_cost_usd: Decimal | None = None


@dataclass(frozen=True)
class TaxpayerId:
    """A supplier's taxpayer identification number, in clear (`value`) or as
    the hex SHA-256 of its UTF-8 (`sha256`): exactly one of the two is set."""

    kind: str
    value: str = ""
    sha256: str = ""


@dataclass(frozen=True)
class Certification:
    """What a supplier certification asserts. A "revoked" one asserts nothing:
    every other field is None."""

    status: str
    supplier_tin: TaxpayerId | None = None
    not_produced_by_pfe: bool | None = None
    no_knowledge_of_prior_pfe: bool | None = None
    direct_material_cost_usd: Decimal | None = None
    non_pfe_direct_material_cost_usd: Decimal | None = None

    @property
    def affirmative(self) -> bool:
        """Certified, and both statements about prohibited foreign entities made."""
        return self.status == "certified" and bool(self.not_produced_by_pfe) and bool(self.no_knowledge_of_prior_pfe)


@dataclass(frozen=True)
class Statement:
    type: str
    issuer: str
    issued_at: dt.datetime
    occurred_at: dt.datetime
    raw: JSONObject
    activity: str = ""
    site: Site | None = None
    inputs: tuple[Input, ...] = ()
    outputs: tuple[Output, ...] = ()
    # transfer, certify and claim name one existing batch
    batch: str = ""
    prev: str = ""
    to: str = ""
    quantity: Decimal | None = None
    vin: str = ""
    acquired: dt.date | None = None
    placed_in_service: dt.date | None = None
    final_assembly: Site | None = None
    # supplier_certification: for whom and which taxable year, and what it asserts
    taxpayer: str = ""
    taxable_year: int | None = None
    certification: Certification | None = None
    # sale (quantity above): when, to whom, under which contract
    sold_on: dt.date | None = None
    buyer: Site | None = None
    binding_contract_on: dt.date | None = None

    @property
    def named_batches(self) -> dict[str, str]:
        """Existing batches this statement builds on, with the prev it names."""
        if self.type == "transform":
            return {item.batch: item.prev for item in self.inputs}
        if self.batch:
            return {self.batch: self.prev}
        return {}

    @property
    def consumed(self) -> dict[str, Decimal]:
        """Quantity taken from each existing batch."""
        if self.type == "transform":
            return {item.batch: item.quantity for item in self.inputs}
        if self.type in ("claim", "sale") and self.quantity is not None:
            return {self.batch: self.quantity}
        return {}

    @property
    def countries(self) -> tuple[str, ...]:
        places = (self.site, self.final_assembly)
        return tuple(place.country for place in places if place)

    @property
    def minerals(self) -> frozenset[str]:
        return frozenset(name for output in self.outputs for name in output.minerals)


# --- JSON -------------------------------------------------------------------


def check_storable(document: object) -> None:
    """Refuse nesting deeper than MAX_DEPTH and strings (keys included) with
    NUL or a lone surrogate. Iterative: a deep document cannot exhaust the stack."""
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if UNSTORABLE.search(value):
                raise PayloadError("strings may not contain NUL (\\u0000) or lone surrogates")
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise PayloadError(f"JSON nesting is limited to {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                stack.append((key, depth))
                stack.append((item, depth + 1))


def strict_json(data: bytes, *, what: str = "body", floats: bool = True) -> JSON:
    """JSON parsed strictly (`cairn_core.json_strict`: no duplicate keys, NaN
    or Infinity, numbers of at most MAX_INT_DIGITS characters) and
    `check_storable`; floats only if allowed."""
    try:
        text = data.decode("utf-8")
        document: JSON = json_strict.loads(text, max_digits=MAX_INT_DIGITS, floats=floats)
    except (UnicodeDecodeError, json_strict.StrictJSONError) as exc:
        raise PayloadError(f"{what} is not JSON: {exc}") from exc
    if not storable_by_its_text(text):
        check_storable(document)
    return document


def storable_by_its_text(text: str) -> bool:
    """Whether the document of this (valid) JSON text passes `check_storable`,
    seen from the text alone: no escape that could make NUL or a surrogate, and
    fewer brackets than MAX_DEPTH allows levels (each level opens one). False
    means only that the document must be walked."""
    return text.count("{") + text.count("[") <= MAX_DEPTH and not ESCAPED_UNSTORABLE.search(text)


def load_json(payload: bytes) -> dict[str, JSON]:
    document = strict_json(payload, what="payload", floats=False)
    if not isinstance(document, dict):
        raise PayloadError("payload must be a JSON object")
    if MAY_BE_UNPRINTABLE.search(payload.decode("utf-8")):
        check_printable(document)
    return document


def check_printable(document: object) -> None:
    """Refuse a string (keys included) holding a character of UNPRINTABLE,
    naming it by its code point. Iterative, like `check_storable`."""
    stack: list[object] = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            found = UNPRINTABLE.search(value)
            if found:
                raise PayloadError(
                    f"strings may not hold control or bidirectional formatting characters (U+{ord(found.group()):04X})"
                )
        elif isinstance(value, dict):
            stack += [*value.keys(), *value.values()]
        elif isinstance(value, list):
            stack += value


# --- field readers ----------------------------------------------------------


def _fields(
    obj: object, where: str, required: AbstractSet[str], optional: AbstractSet[str] = frozenset()
) -> dict[str, JSON]:
    if not isinstance(obj, dict):
        raise PayloadError(f"{where} must be an object")
    missing = required - obj.keys()
    if missing:
        raise PayloadError(f"{where} lacks {', '.join(sorted(missing))}")
    unknown = obj.keys() - required - optional
    if unknown:
        raise PayloadError(f"{where} has unknown field(s) {', '.join(sorted(unknown))}")
    return obj


def _text(value: object, where: str, max_length: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise PayloadError(f"{where} must be a non-empty string of at most {max_length} characters")
    return value


def _match(value: object, pattern: re.Pattern[str], where: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise PayloadError(f"{where} must be {what}")
    return value


def _decimal(value: object, where: str, positive: bool = False) -> Decimal:
    amount = Decimal(_match(value, DECIMAL, where, 'a decimal string such as "12.5"'))
    if positive and amount <= 0:
        raise PayloadError(f"{where} must be greater than zero")
    return amount


def _timestamp(value: object, where: str) -> dt.datetime:
    text = _match(value, TIMESTAMP, where, "an RFC 3339 UTC timestamp such as 2024-03-01T10:00:00Z")
    try:
        return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise PayloadError(f"{where} is not a real time: {exc}") from exc


def _date(value: object, where: str) -> dt.date:
    text = _match(value, DATE, where, "a date YYYY-MM-DD")
    try:
        date = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise PayloadError(f"{where} is not a real date: {exc}") from exc
    if date < EARLIEST.date():
        raise PayloadError(f"{where} cannot be before {EARLIEST:%Y-%m-%d}")
    return date


def _choice(value: object, choices: tuple[str, ...], where: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise PayloadError(f"{where} must be one of {', '.join(choices)}")
    return value


def _site(value: object, where: str) -> Site:
    obj = _fields(value, where, {"name", "country"})
    return Site(
        name=_text(obj["name"], f"{where}.name"),
        country=_match(obj["country"], COUNTRY, f"{where}.country", "an ISO 3166-1 alpha-2 code"),
    )


def _list(value: object, where: str, max_items: int = 256) -> list[JSON]:
    if not isinstance(value, list) or not value or len(value) > max_items:
        raise PayloadError(f"{where} must be a list of 1 to {max_items} items")
    return value


def _batch_id(value: object, where: str) -> str:
    return _match(value, BATCH_ID, where, "a batch id <org slug>:<local id>")


def _prev(value: object, where: str) -> str:
    return _match(value, HEX64, where, "the lowercase hex entry_hash of the batch's head")


# --- types ------------------------------------------------------------------


class TypeFields(TypedDict, total=False):
    """The Statement fields a type's reader returns (beyond the common ones)."""

    activity: str
    site: Site
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    batch: str
    prev: str
    to: str
    quantity: Decimal
    vin: str
    acquired: dt.date
    placed_in_service: dt.date
    final_assembly: Site
    taxpayer: str
    taxable_year: int
    certification: Certification
    sold_on: dt.date
    buyer: Site
    binding_contract_on: dt.date


def _outputs(value: object, with_minerals: bool) -> tuple[Output, ...]:
    required = {"batch", "material", "quantity", "unit", "value_added_usd"}
    required |= {"minerals"} if with_minerals else set()
    optional: set[str] = set() if with_minerals else {"component"}
    outputs = []
    for position, item in enumerate(_list(value, "outputs")):
        where = f"outputs[{position}]"
        obj = _fields(item, where, required, optional)
        minerals: dict[str, Decimal] = {}
        if with_minerals:
            if not isinstance(obj["minerals"], dict) or not obj["minerals"]:
                raise PayloadError(f"{where}.minerals must name at least one critical mineral")
            for name, kg in obj["minerals"].items():
                _match(name, MINERAL, f"{where}.minerals key", "a critical mineral name")
                minerals[name] = _decimal(kg, f"{where}.minerals.{name}")
        quantity = _decimal(obj["quantity"], f"{where}.quantity", positive=True)
        unit = _choice(obj["unit"], UNITS, f"{where}.unit")
        if unit == "kg" and amounts.total(*minerals.values()) > quantity:
            raise PayloadError(f"{where}.minerals hold more kg than the batch's {quantity} kg")
        outputs.append(
            Output(
                batch=_batch_id(obj["batch"], f"{where}.batch"),
                material=_text(obj["material"], f"{where}.material"),
                quantity=quantity,
                unit=unit,
                value_added_usd=_decimal(obj["value_added_usd"], f"{where}.value_added_usd"),
                minerals=minerals,
                component=_choice(obj["component"], COMPONENTS, f"{where}.component") if "component" in obj else "",
            )
        )
    _distinct([output.batch for output in outputs], "outputs")
    return tuple(outputs)


def _distinct(batch_ids: list[str], where: str) -> None:
    if len(set(batch_ids)) != len(batch_ids):
        raise PayloadError(f"{where} name the same batch twice")


def _origin(doc: dict[str, JSON]) -> TypeFields:
    return {
        "activity": _choice(doc["activity"], ORIGIN_ACTIVITIES, "activity"),
        "site": _site(doc["site"], "site"),
        "outputs": _outputs(doc["outputs"], with_minerals=True),
    }


def _transform(doc: dict[str, JSON]) -> TypeFields:
    inputs = []
    for position, item in enumerate(_list(doc["inputs"], "inputs")):
        where = f"inputs[{position}]"
        obj = _fields(item, where, {"batch", "prev", "quantity"}, {"direct_material_cost_usd"})
        has_cost = "direct_material_cost_usd" in obj
        inputs.append(
            Input(
                batch=_batch_id(obj["batch"], f"{where}.batch"),
                prev=_prev(obj["prev"], f"{where}.prev"),
                quantity=_decimal(obj["quantity"], f"{where}.quantity", positive=True),
                direct_material_cost_usd=_decimal(obj["direct_material_cost_usd"], f"{where}.direct_material_cost_usd")
                if has_cost
                else None,
            )
        )
    _distinct([item.batch for item in inputs], "inputs")
    outputs = _outputs(doc["outputs"], with_minerals=False)
    if {item.batch for item in inputs} & {output.batch for output in outputs}:
        raise PayloadError("a transform cannot output a batch it consumes")
    if len({output.unit for output in outputs}) != 1:
        raise PayloadError("all outputs of one transform share one unit")
    return {
        "activity": _choice(doc["activity"], TRANSFORM_ACTIVITIES, "activity"),
        "site": _site(doc["site"], "site"),
        "inputs": tuple(inputs),
        "outputs": outputs,
    }


def _transfer(doc: dict[str, JSON]) -> TypeFields:
    to = _match(doc["to"], SLUG, "to", "an organisation slug")
    if to == doc["issuer"]:
        raise PayloadError("a transfer must name another organisation in to")
    return {"batch": _batch_id(doc["batch"], "batch"), "prev": _prev(doc["prev"], "prev"), "to": to}


def _certify(doc: dict[str, JSON]) -> TypeFields:
    if not isinstance(doc["statement"], dict):
        raise PayloadError("statement must be an object")
    if not isinstance(doc["documents"], list):
        raise PayloadError("documents must be a list")
    for position, item in enumerate(doc["documents"]):
        obj = _fields(item, f"documents[{position}]", {"name", "sha256"})
        _text(obj["name"], f"documents[{position}].name")
        _match(obj["sha256"], HEX64, f"documents[{position}].sha256", "lowercase hex SHA-256")
    return {"batch": _batch_id(doc["batch"], "batch"), "prev": _prev(doc["prev"], "prev")}


def _claim(doc: dict[str, JSON]) -> TypeFields:
    return {
        "batch": _batch_id(doc["batch"], "batch"),
        "prev": _prev(doc["prev"], "prev"),
        "quantity": _decimal(doc["quantity"], "quantity", positive=True),
        "vin": _match(doc["vin"], VIN, "vin", "a 17-character VIN (no I, O or Q)"),
        "acquired": _date(doc["acquired"], "acquired"),
        "placed_in_service": _date(doc["placed_in_service"], "placed_in_service"),
        "final_assembly": _site(doc["final_assembly"], "final_assembly"),
    }


def _taxpayer_id(value: object) -> TaxpayerId:
    where = "supplier_tin"
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object")
    obj = _fields(value, where, {"kind"}, {"value", "sha256"})
    kind = _choice(obj["kind"], TIN_KINDS, f"{where}.kind")
    if ("value" in obj) == ("sha256" in obj):
        raise PayloadError(f"{where} must carry exactly one of value and sha256")
    if "sha256" in obj:
        return TaxpayerId(kind, sha256=_match(obj["sha256"], HEX64, f"{where}.sha256", "lowercase hex SHA-256"))
    if kind == "EIN":
        return TaxpayerId(kind, value=_match(obj["value"], EIN, f"{where}.value", "an EIN written NN-NNNNNNN"))
    text = obj["value"]
    if not isinstance(text, str) or len(text) > MAX_TIN_LENGTH or not FOREIGN_TIN.match(text):
        raise PayloadError(
            f"{where}.value must be a foreign tax id of at most {MAX_TIN_LENGTH} letters and digits "
            "(single spaces, dots, slashes or hyphens between them)"
        )
    return TaxpayerId(kind, value=text)


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise PayloadError(f"{where} must be true or false")
    return value


def _taxable_year(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not FIRST_TAXABLE_YEAR <= value <= LAST_TAXABLE_YEAR:
        raise PayloadError(f"taxable_year must be an integer from {FIRST_TAXABLE_YEAR} to {LAST_TAXABLE_YEAR}")
    return value


def _certification(doc: dict[str, JSON]) -> Certification:
    status = _choice(doc["status"], CERTIFICATION_STATUSES, "status")
    present = CERTIFIED_FIELDS & doc.keys()
    if status == "revoked":
        if present:
            raise PayloadError(f"a revoked certification asserts nothing: remove {', '.join(sorted(present))}")
        return Certification(status)
    missing = CERTIFIED_FIELDS - present
    if missing:
        raise PayloadError(f"a certified certification lacks {', '.join(sorted(missing))}")
    if doc["penalties_of_perjury"] != PERJURY_STATEMENT:
        raise PayloadError(f'penalties_of_perjury must be exactly "{PERJURY_STATEMENT}"')
    total = _decimal(doc["direct_material_cost_usd"], "direct_material_cost_usd")
    non_pfe = _decimal(doc["non_pfe_direct_material_cost_usd"], "non_pfe_direct_material_cost_usd")
    if non_pfe > total:
        raise PayloadError("non_pfe_direct_material_cost_usd cannot exceed direct_material_cost_usd")
    return Certification(
        status=status,
        supplier_tin=_taxpayer_id(doc["supplier_tin"]),
        not_produced_by_pfe=_flag(doc["not_produced_by_pfe"], "not_produced_by_pfe"),
        no_knowledge_of_prior_pfe=_flag(doc["no_knowledge_of_prior_pfe"], "no_knowledge_of_prior_pfe"),
        direct_material_cost_usd=total,
        non_pfe_direct_material_cost_usd=non_pfe,
    )


def _supplier_certification(doc: dict[str, JSON]) -> TypeFields:
    taxpayer = _match(doc["taxpayer"], SLUG, "taxpayer", "an organisation slug")
    if taxpayer == doc["issuer"]:
        raise PayloadError("a supplier certification is given to another organisation: taxpayer is the issuer")
    return {
        "batch": _batch_id(doc["batch"], "batch"),
        "prev": _prev(doc["prev"], "prev"),
        "taxpayer": taxpayer,
        "taxable_year": _taxable_year(doc["taxable_year"]),
        "certification": _certification(doc),
    }


def _sale(doc: dict[str, JSON]) -> TypeFields:
    fields: TypeFields = {
        "batch": _batch_id(doc["batch"], "batch"),
        "prev": _prev(doc["prev"], "prev"),
        "quantity": _decimal(doc["quantity"], "quantity", positive=True),
        "sold_on": _date(doc["sold_on"], "sold_on"),
        "buyer": _site(doc["buyer"], "buyer"),
    }
    if "binding_contract_on" in doc:
        fields["binding_contract_on"] = _date(doc["binding_contract_on"], "binding_contract_on")
        if fields["binding_contract_on"] > fields["sold_on"]:
            raise PayloadError("binding_contract_on cannot be after sold_on")
    return fields


# type -> (required fields beyond the common ones, reader)
TYPE_FIELDS: dict[str, tuple[set[str], Callable[[dict[str, JSON]], TypeFields]]] = {
    "origin": ({"activity", "site", "outputs"}, _origin),
    "transform": ({"activity", "site", "inputs", "outputs"}, _transform),
    "transfer": ({"batch", "prev", "to"}, _transfer),
    "certify": ({"batch", "prev", "statement", "documents"}, _certify),
    "claim": (
        {"batch", "prev", "quantity", "vin", "acquired", "placed_in_service", "final_assembly"},
        _claim,
    ),
    "supplier_certification": ({"batch", "prev", "taxpayer", "taxable_year", "status"}, _supplier_certification),
    "sale": ({"batch", "prev", "quantity", "sold_on", "buyer"}, _sale),
}
# Optional fields of a type beyond the common ones.
TYPE_OPTIONAL: dict[str, frozenset[str]] = {
    "supplier_certification": CERTIFIED_FIELDS,
    "sale": frozenset({"binding_contract_on"}),
}


def parse_statement(payload: bytes) -> Statement:
    """Parse and validate payload bytes; raise PayloadError naming the fault."""
    doc = load_json(payload)
    if doc.get("schema") != SCHEMA:
        raise PayloadError(f'schema must be "{SCHEMA}"')
    kind = _choice(doc.get("type"), TYPES, "type")
    required, reader = TYPE_FIELDS[kind]
    _fields(doc, "payload", COMMON_REQUIRED | required, COMMON_OPTIONAL | TYPE_OPTIONAL.get(kind, frozenset()))
    issuer = _match(doc["issuer"], SLUG, "issuer", "an organisation slug")
    issued_at = _timestamp(doc["issued_at"], "issued_at")
    occurred_at = issued_at
    if "occurred_at" in doc:
        occurred_at = _timestamp(doc["occurred_at"], "occurred_at")
        if occurred_at < EARLIEST:
            raise PayloadError(f"occurred_at cannot be before {EARLIEST:%Y-%m-%dT%H:%M:%SZ}")
        if occurred_at > issued_at:
            raise PayloadError("occurred_at cannot be after issued_at")
    return Statement(
        type=kind,
        issuer=issuer,
        issued_at=issued_at,
        occurred_at=occurred_at,
        raw=doc,
        **reader(doc),
    )
