"""§45X test data, written by hand: the rule data with docs/domain.md's figures, and logged
statements built without a server (no signatures: `macr` reads the keyids an envelope names,
and the integrity checks that verify them are the bundle tests')."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import nacl.signing

from cairn_core.entries import Key
from cairn_core.payload import PERJURY_STATEMENT
from cairn_core.regimes.s45x import rules
from cairn_core.regimes.s45x.macr import Logged

CORNELL = "https://www.law.cornell.edu/uscode/text/26/45X"
SECONDARY = "26 U.S.C. §7701(a)(52)(C), as compiled (secondary: docs/domain.md)"
TAXPAYER = "ohio-cells"
CELL = "ohio-cells:cell-1"
AS_OF = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)  # the verification's time
REGISTERED = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp())
LOGGED = int(dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp())


def _sourced(confirmed: bool = False, source: str = SECONDARY) -> rules.Sourced:
    return rules.Sourced(source, confirmed)


def _rows(name: str, steps: list[tuple[str, str | None, str]]) -> tuple[rules.Threshold, ...]:
    return tuple(
        rules.Threshold(
            name,
            dt.date.fromisoformat(start),
            dt.date.fromisoformat(end) if end else None,
            Decimal(percent),
            _sourced(),
        )
        for start, end, percent in steps
    )


BATTERY_STEPS = [
    ("2026-01-01", "2026-12-31", "60"),
    ("2027-01-01", "2027-12-31", "65"),
    ("2028-01-01", "2028-12-31", "70"),
    ("2029-01-01", "2029-12-31", "80"),
    ("2030-01-01", None, "85"),
]
MINERAL_STEPS = [
    ("2026-01-01", "2029-12-31", "0"),
    ("2030-01-01", "2030-12-31", "25"),
    ("2031-01-01", "2031-12-31", "30"),
    ("2032-01-01", "2032-12-31", "40"),
    ("2033-01-01", None, "50"),
]
CLASSES = (
    rules.ComponentClass("battery_cell", ("battery_cell",), _sourced(True, CORNELL)),
    rules.ComponentClass("battery_module", ("battery_module",), _sourced(True, CORNELL)),
    rules.ComponentClass(
        "electrode_active_material", ("cathode_electrode", "anode_electrode"), _sourced(True, CORNELL)
    ),
    rules.ComponentClass("critical_mineral", ("critical_mineral",), _sourced(True, CORNELL)),
)
THRESHOLDS = (
    *_rows("battery_cell", BATTERY_STEPS),
    *_rows("battery_module", BATTERY_STEPS),
    *_rows("electrode_active_material", BATTERY_STEPS),
    *_rows("critical_mineral", MINERAL_STEPS),
)
CN_DESIGNATION = rules.Designation(
    "cn-electrolyte",
    "CN Electrolyte Co., Ltd.",
    "specified",
    "foreign-controlled entity of the People's Republic of China",
    dt.date(2025, 1, 1),
    None,
    _sourced(False, "a test list"),
)
STATUS = rules.StatusDate("last_day_of_taxable_year", _sourced(False, "26 U.S.C. §7701(a)(51), secondary"))
EXISTING = rules.ExistingContract(dt.date(2025, 6, 16), dt.date(2027, 1, 1), _sourced(True, CORNELL))


def make_rules(
    designations: tuple[rules.Designation, ...] = (CN_DESIGNATION,), status: rules.StatusDate = STATUS
) -> rules.Rules:
    return rules.build(CLASSES, THRESHOLDS, designations, status, EXISTING)


def designation(entity: str, start: str, until: str | None = None) -> rules.Designation:
    return rules.Designation(
        entity,
        entity.title(),
        "foreign_influenced",
        "an SFE may appoint an officer",
        dt.date.fromisoformat(start),
        dt.date.fromisoformat(until) if until else None,
        _sourced(),
    )


# --- statements --------------------------------------------------------------------------


class Log:
    """Statements in log order, each naming its issuer's key; keys registered in 2025."""

    def __init__(self) -> None:
        self.entries: list[Logged] = []
        self.keys: dict[str, Key] = {}

    def key(self, org: str, *, revoked: dt.datetime | None = None, name: str = "") -> str:
        keyid = f"{org}-key{name}"
        self.keys[keyid] = Key(
            nacl.signing.SigningKey.generate().verify_key,
            org,
            REGISTERED,
            revoked.timestamp() if revoked else None,
        )
        return keyid

    def add(self, payload: dict, keyid: str | None = None) -> Logged:
        issuer = payload["issuer"]
        if keyid is None:
            keyid = f"{issuer}-key"
            if keyid not in self.keys:
                self.key(issuer)
        index = len(self.entries)
        entry = Logged(index, f"{index:064x}", LOGGED + index, payload, (keyid,))
        self.entries.append(entry)
        return entry

    def supply(self, supplier: str, batch: str) -> Logged:
        """The supplier creates `batch` (an origin: the creating entry names the supplier)."""
        return self.add(
            {
                "type": "origin",
                "issuer": supplier,
                "activity": "extraction",
                "site": {"name": "Site", "country": "US"},
                "outputs": [
                    {
                        "batch": batch,
                        "material": "input",
                        "quantity": "100",
                        "unit": "kg",
                        "minerals": {"lithium": "1"},
                        "value_added_usd": "0",
                    }
                ],
            }
        )

    def make_cell(self, costs: dict[str, str | None], component: str = "battery_cell", batch: str = CELL) -> Logged:
        """The taxpayer's transform of the input batches, each with its cost (None: no cost given)."""
        inputs = []
        for name, cost in costs.items():
            item = {"batch": name, "prev": "ab" * 32, "quantity": "1"}
            if cost is not None:
                item["direct_material_cost_usd"] = cost
            inputs.append(item)
        return self.add(
            {
                "type": "transform",
                "issuer": TAXPAYER,
                "activity": "manufacturing",
                "site": {"name": "Ohio", "country": "US"},
                "inputs": inputs,
                "outputs": [
                    {
                        "batch": batch,
                        "material": "cell",
                        "quantity": "1000",
                        "unit": "unit",
                        "value_added_usd": "0",
                        "component": component,
                    }
                ],
            }
        )

    def certify(
        self,
        supplier: str,
        batch: str,
        *,
        taxpayer: str = TAXPAYER,
        year: int = 2026,
        dmc: str = "100",
        non_pfe: str | None = None,
        contrary: bool = False,
        keyid: str | None = None,
    ) -> Logged:
        return self.add(
            {
                "type": "supplier_certification",
                "issuer": supplier,
                "batch": batch,
                "prev": "ab" * 32,
                "taxpayer": taxpayer,
                "taxable_year": year,
                "status": "certified",
                "supplier_tin": {"kind": "EIN", "value": "12-3456789"},
                "not_produced_by_pfe": not contrary,
                "no_knowledge_of_prior_pfe": True,
                "direct_material_cost_usd": dmc,
                "non_pfe_direct_material_cost_usd": non_pfe if non_pfe is not None else dmc,
                "penalties_of_perjury": PERJURY_STATEMENT,
            },
            keyid,
        )

    def revoke_certification(self, supplier: str, batch: str, *, year: int = 2026) -> Logged:
        return self.add(
            {
                "type": "supplier_certification",
                "issuer": supplier,
                "batch": batch,
                "prev": "ab" * 32,
                "taxpayer": TAXPAYER,
                "taxable_year": year,
                "status": "revoked",
            }
        )

    def sell(self, sold_on: str, binding_contract_on: str | None = None, batch: str = CELL) -> Logged:
        payload = {
            "type": "sale",
            "issuer": TAXPAYER,
            "batch": batch,
            "prev": "ab" * 32,
            "quantity": "1000",
            "sold_on": sold_on,
            "buyer": {"name": "Pack Works", "country": "US"},
        }
        if binding_contract_on is not None:
            payload["binding_contract_on"] = binding_contract_on
        return self.add(payload)
