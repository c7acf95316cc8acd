"""Identifiers of Cairn's EPCIS 2.0 documents (contract §11): batches, sites,
organisations and vehicles as URIs, quantities as numbers with UN/CEFACT
Recommendation 20 units.

- A batch whose local id is a GTIN-14 (valid GS1 check digit), a dot and a
  lot (GS1 AI 10, 1 to 20 characters) is a GS1 Digital Link,
  `https://id.gs1.org/01/<GTIN>/10/<lot>`, the class-level LGTIN EPCIS
  expects. Any other batch is `<base>/batch/<issuer slug>/<local id>`.
- A site `{"name", "country"}` is `<base>/site/<country>/<name, percent-encoded>`.
- An organisation is `<base>/org/<slug>`; a vehicle `<base>/vin/<VIN>`.
- `<base>` is `https://` and the ledger's origin (its operator's domain and
  path); the document's `cairn` namespace is `<base>/ns/epcis#`.
- Units: `kg` is KGM, `unit` is H87 (piece).

No Django import: the export, the import and the examiner's check share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote, unquote

from cairn_core.payload import BATCH_ID, COUNTRY, SLUG, VIN

DIGITAL_LINK = "https://id.gs1.org"
NAMESPACE_PATH = "/ns/epcis#"
UOM = {"kg": "KGM", "unit": "H87"}
UNIT_OF_UOM = {uom: unit for unit, uom in UOM.items()}

# A local id that names a GS1 trade item and lot: `<GTIN-14>.<lot>`.
GTIN_LOT = re.compile(r"\A(?P<gtin>[0-9]{14})\.(?P<lot>[A-Za-z0-9._-]{1,20})\Z")
DIGITAL_LINK_PATH = re.compile(r"\A/01/(?P<gtin>[0-9]{14})/10/(?P<lot>[A-Za-z0-9._-]{1,20})\Z")


class IdentifierError(ValueError):
    """A URI that names no batch, site, organisation or vehicle of this base."""


def gtin_check_digit_ok(gtin: str) -> bool:
    """GS1 General Specifications §7.9.1: weights 3 and 1 from the right."""
    digits = [int(c) for c in gtin]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == digits[-1]


def lot_of(local_id: str) -> tuple[str, str] | None:
    """(GTIN, lot) when the local id is `<GTIN-14>.<lot>` with a valid check digit."""
    match = GTIN_LOT.match(local_id)
    if match is None or not gtin_check_digit_ok(match["gtin"]):
        return None
    return match["gtin"], match["lot"]


def number(text: str) -> Decimal:
    """A contract decimal string as the EPCIS number it becomes (exact)."""
    return Decimal(text)


def decimal_text(value: object) -> str:
    """An EPCIS number back as a contract decimal string: no exponent, no
    trailing zeros ("1250.50" and 1.25e3 are "1250.5" and "1250")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise IdentifierError(f"a quantity is a JSON number, not {value!r}")
    exact = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not exact.is_finite():
        raise IdentifierError(f"a quantity is a finite number, not {value!r}")
    text = format(exact, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class Identifiers:
    """The URIs of one ledger, under `base` (no trailing slash)."""

    base: str

    @classmethod
    def for_origin(cls, origin: str) -> Identifiers:
        """The identifiers of the ledger whose log origin is `origin` (host/path)."""
        return cls("https://" + origin.strip("/"))

    @classmethod
    def from_namespace(cls, namespace: str) -> Identifiers:
        if not namespace.startswith("https://") or not namespace.endswith(NAMESPACE_PATH):
            raise IdentifierError(f"the cairn namespace is https://…{NAMESPACE_PATH}, not {namespace!r}")
        return cls(namespace[: -len(NAMESPACE_PATH)])

    @property
    def namespace(self) -> str:
        return self.base + NAMESPACE_PATH

    def batch(self, batch_id: str) -> str:
        issuer, _, local_id = batch_id.partition(":")
        lot = lot_of(local_id)
        if lot is not None:
            return f"{DIGITAL_LINK}/01/{lot[0]}/10/{lot[1]}"
        return f"{self.base}/batch/{issuer}/{local_id}"

    def batch_id(self, uri: str, *, lots: dict[str, str]) -> str:
        """The batch a URI names; a Digital Link's through `lots` (URI → batch id),
        since it does not carry the issuer's prefix."""
        if uri.startswith(DIGITAL_LINK + "/"):
            if DIGITAL_LINK_PATH.match(uri[len(DIGITAL_LINK) :]) is None or uri not in lots:
                raise IdentifierError(f"{uri} names a lot made by no event of the document")
            return lots[uri]
        issuer, _, local_id = self._path(uri, "batch").partition("/")
        batch_id = f"{issuer}:{local_id}"
        if BATCH_ID.match(batch_id) is None:
            raise IdentifierError(f"{uri} names no Cairn batch")
        return batch_id

    def site(self, name: str, country: str) -> str:
        return f"{self.base}/site/{country}/{quote(name, safe='')}"

    def site_of(self, uri: str) -> dict[str, str]:
        country, _, name = self._path(uri, "site").partition("/")
        if COUNTRY.match(country) is None or not name or "/" in name:
            raise IdentifierError(f"{uri} names no site (…/site/<country>/<name>)")
        return {"name": unquote(name), "country": country}

    def party(self, slug: str) -> str:
        return f"{self.base}/org/{slug}"

    def slug_of(self, uri: str) -> str:
        slug = self._path(uri, "org")
        if SLUG.match(slug) is None:
            raise IdentifierError(f"{uri} names no organisation")
        return slug

    def vehicle(self, vin: str) -> str:
        return f"{self.base}/vin/{vin}"

    def vin_of(self, uri: str) -> str:
        vin = self._path(uri, "vin")
        if VIN.match(vin) is None:
            raise IdentifierError(f"{uri} names no vehicle (…/vin/<VIN>)")
        return vin

    def _path(self, uri: object, kind: str) -> str:
        prefix = f"{self.base}/{kind}/"
        if not isinstance(uri, str) or not uri.startswith(prefix):
            raise IdentifierError(f"{uri!r} is not a {kind} URI of {self.base}")
        return uri[len(prefix) :]
