"""The demo supply chain that `make demo` loads (`manage.py load_demo`).

Demo data only: the organisations are fictional, their private keys are
written in clear under VAR_DIR/demo/keys, and the passwords are printed.

The chain follows DOMAIN.md's shapes: mine → refinery → precursor (pCAM) →
cathode active material, and graphite → anode active material; then
electrodes, cells (with separator and electrolyte), modules, packs and
vehicles. Eight production runs draw on mines in qualifying countries (AU,
CL, CA), non-qualifying ones (AR, ID, CD, ZA, MZ) and a covered nation
(CN), process minerals in Japan (which counts through the US-Japan critical
minerals agreement), and make cells in the US, Mexico, Korea and China, so
that sixteen vehicle claims get full, half and no credit for different
reasons (see CLAIMS, each with the verdict it is meant to get and why:
`story(vin)` tells it, and the claim's admin page shows it).

For §45X material assistance, a US cell maker (Lordstown Cell Works) makes
a battery-cell batch in 2026 from its direct suppliers' materials (KR, JP,
CN, US), each input with its direct material cost, three of the four
suppliers certify for 2026, the Chinese one is designated a prohibited
foreign entity in the §45X rule data (a logged rules change), and the batch
is sold in November 2026: its MACR, 61.1%, passes 2026's 60% and would
fail 2027's 65% (DIRECT_MATERIALS computes it by hand).

Quantities follow mass balance: each run makes `packs` packs from the kg
of each mineral a 60 kWh pack holds (PACK_MINERALS), and every step's
value added is a per-pack figure times the packs (PER_PACK_USD). Every
statement is signed with its organisation's Ed25519 key and appended
through `provenance.append.checks.append_attestation`, the API's own write path;
activities are dated in the past with `occurred_at`, while `issued_at` is
the moment of loading (the server accepts issued_at only within 30 days).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

if TYPE_CHECKING:
    from audit.models import Verification

from agreements.models import FeocDesignation
from audit.verdict_text import dollars
from cairn_core import dsse
from cairn_core.dag import decimal_str
from cairn_core.payload import PAYLOAD_TYPE, PERJURY_STATEMENT, SCHEMA
from material_assistance.models import PfeDesignation
from provenance.append import checks
from provenance.keys import register_key
from provenance.models import Batch, Claim, Entry, Organization
from provenance.organizations import create_organization
from provenance.rule_changes import rule_change

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "cairn-demo-admin"  # demo only
AUDITOR_USERNAME = "auditor"
AUDITOR_PASSWORD = "cairn-demo-auditor"  # demo only
SOURCE = "https://example.org/cairn-demo"

# --- organisations ----------------------------------------------------------


@dataclass(frozen=True)
class OrgSpec:
    slug: str
    name: str
    country: str
    roles: tuple[str, ...] = ("supplier",)


MANUFACTURER = ("manufacturer",)

ORGS = (
    # mines
    OrgSpec("greenbushes-lithium", "Greenbushes Lithium (spodumene)", "AU"),
    OrgSpec("atacama-brine", "Salar de Atacama Brine Co.", "CL"),
    OrgSpec("hombre-lithium", "Salar del Hombre Muerto Lithium", "AR"),
    OrgSpec("sudbury-nickel", "Sudbury Basin Nickel", "CA"),
    OrgSpec("weda-bay-nickel", "Weda Bay Nickel", "ID"),
    OrgSpec("murrin-cobalt", "Murrin Murrin Cobalt", "AU"),
    OrgSpec("katanga-cobalt", "Katanga Cobalt", "CD"),
    OrgSpec("groote-manganese", "Groote Eylandt Manganese", "AU"),
    OrgSpec("kalahari-manganese", "Kalahari Manganese Field", "ZA"),
    OrgSpec("balama-graphite", "Balama Graphite", "MZ"),
    OrgSpec("lac-graphite", "Lac-des-Iles Graphite", "CA"),
    OrgSpec("heilongjiang-graphite", "Heilongjiang Graphite Mining", "CN"),
    OrgSpec("weipa-bauxite", "Weipa Bauxite", "AU"),
    # refiners and processors
    OrgSpec("kansai-refining", "Kansai Lithium Refining", "JP"),
    OrgSpec("niihama-nickel", "Niihama Nickel Refining", "JP"),
    OrgSpec("antofagasta-lithium", "Antofagasta Lithium Chemicals", "CL"),
    OrgSpec("nevada-lithium", "Nevada Lithium Hydroxide", "US"),
    OrgSpec("gwangyang-chem", "Gwangyang Battery Chemicals", "KR"),
    OrgSpec("morowali-hpal", "Morowali HPAL Nickel", "ID"),
    OrgSpec("kokkola-cobalt", "Kokkola Cobalt and Manganese Refinery", "FI"),
    OrgSpec("vidalia-anode", "Vidalia Active Anode Material", "US"),
    OrgSpec("becancour-anode", "Becancour Anode Materials", "CA"),
    OrgSpec("shandong-anode", "Shandong Anode Materials", "CN"),
    # cathode active material, separator, electrolyte
    OrgSpec("ohio-cathode", "Ohio Cathode Materials", "US"),
    OrgSpec("pohang-cathode", "Pohang Cathode", "KR"),
    OrgSpec("harjavalta-cathode", "Harjavalta Cathode", "FI"),
    OrgSpec("harima-cathode", "Harima Cathode Materials", "JP"),
    OrgSpec("carolina-separator", "Carolina Separator Films", "US"),
    OrgSpec("texas-electrolyte", "Texas Electrolyte", "US"),
    # cells, packs, vehicles
    OrgSpec("tennessee-cells", "Tennessee Cell Works", "US", MANUFACTURER),
    OrgSpec("monterrey-cells", "Monterrey Celdas", "MX", MANUFACTURER),
    OrgSpec("ochang-cells", "Ochang Cell Company", "KR", MANUFACTURER),
    OrgSpec("ningde-cells", "Ningde Cell Manufacturing", "CN", MANUFACTURER),
    OrgSpec("michigan-packs", "Michigan Pack Assembly", "US", MANUFACTURER),
    OrgSpec("rivermark-motors", "Rivermark Motors", "US", MANUFACTURER),
    OrgSpec("cascadia-motors", "Cascadia Motors", "US", MANUFACTURER),
    OrgSpec("sierra-motors", "Sierra Motors de Mexico", "MX", MANUFACTURER),
    # §45X: a US cell maker and its direct suppliers (see DIRECT_MATERIALS)
    OrgSpec("lordstown-cells", "Lordstown Cell Works", "US", MANUFACTURER),
    OrgSpec("gwangju-cathode", "Gwangju Cathode Materials", "KR"),
    OrgSpec("osaka-anode", "Osaka Anode Materials", "JP"),
    OrgSpec("ningbo-electrolyte", "Ningbo Electrolyte Co., Ltd.", "CN"),
    OrgSpec("georgia-separator", "Georgia Separator Films", "US"),
    # third parties
    OrgSpec("assay-labs", "Assay Labs", "CA", ("certifier",)),
    OrgSpec("ledger-audit", "Ledger Audit LLP", "US", ("auditor",)),
)

# A FEOC that is neither incorporated nor active in a covered nation: a
# covered-nation government holds 25% or more of it (DOMAIN.md, FEOC).
DESIGNATIONS = (
    {
        "organization": "morowali-hpal",
        "basis": "control_25pct",
        "covered_nation": "CN",
        "effective_from": dt.date(2022, 6, 1),
        "notes": "Demo designation of a fictional organisation: a covered-nation "
        "state-owned enterprise holds 30% of the equity.",
    },
)

# --- what a pack holds and what each step adds --------------------------------

# kg of each critical mineral in one 60 kWh pack (DOMAIN.md), plus the
# alumina coating of the separator.
PACK_MINERALS = {
    "lithium": Decimal(6),
    "nickel": Decimal(29),
    "cobalt": Decimal(8),
    "manganese": Decimal(10),
    "graphite": Decimal(52),
    "aluminum": Decimal("0.4"),
}

# USD of value added per pack by each step.
PER_PACK_USD = {
    "extract:lithium": 90,
    "extract:nickel": 260,
    "extract:cobalt": 150,
    "extract:manganese": 20,
    "extract:graphite": 40,
    "extract:aluminum": 2,
    "refine:lithium": 360,
    "refine:nickel": 300,
    "refine:cobalt": 130,
    "refine:manganese": 25,
    "pcam": 500,
    "cam": 700,
    "anode_material": 260,
    "separator": 180,
    "electrolyte": 200,
    "cathode_electrode": 900,
    "anode_electrode": 450,
    "cells": 2200,
    "modules": 800,
    "packs": 1300,
}
CELLS_PER_PACK = 96
# Days from the start of a run (mining) to each of its activities.
RUN_DAYS = {
    "mined": 0,
    "shipped to refiner": 7,
    "refined": 21,
    "shipped to processor": 28,
    "separator": 30,
    "precursor": 35,
    "electrolyte": 35,
    "cathode material": 42,
    "shipped to cell maker": 49,
    "electrodes": 56,
    "cells": 63,
    "shipped to pack assembler": 70,
    "modules": 74,
    "packs": 77,
    "delivered to automaker": 84,
}
MODULES_PER_PACK = 4


@dataclass(frozen=True)
class Source:
    """Where one mineral of a run is mined and refined.

    `grade` is kg of mineral per kg of the mine's product, `product_grade`
    the same for the refined product.
    """

    mineral: str
    mine: str
    ore: str
    grade: Decimal
    refiner: str
    product: str
    product_grade: Decimal


def _source(mineral: str, mine: str, ore: str, grade: str, refiner: str, product: str, product_grade: str) -> Source:
    return Source(mineral, mine, ore, Decimal(grade), refiner, product, Decimal(product_grade))


LIOH = "lithium hydroxide monohydrate"
NISO4 = "nickel sulfate hexahydrate"
COSO4 = "cobalt sulfate heptahydrate"
MNSO4 = "high-purity manganese sulfate monohydrate"
FLAKE = "natural flake graphite concentrate"
SPHERICAL = "coated spherical graphite (anode active material)"

# fmt: off
SOURCES = {
    # key: mineral, mine, its product, grade, refiner, refined product, grade
    "li-au-jp": _source("lithium", "greenbushes-lithium", "spodumene concentrate SC6", "0.028",
                        "kansai-refining", LIOH, "0.165"),
    "li-cl-cl": _source("lithium", "atacama-brine", "lithium brine concentrate", "0.06",
                        "antofagasta-lithium", LIOH, "0.165"),
    "li-ar-jp": _source("lithium", "hombre-lithium", "lithium chloride brine concentrate", "0.05",
                        "kansai-refining", LIOH, "0.165"),
    "li-ar-us": _source("lithium", "hombre-lithium", "lithium chloride brine concentrate", "0.05",
                        "nevada-lithium", LIOH, "0.165"),
    "ni-ca-kr": _source("nickel", "sudbury-nickel", "nickel concentrate", "0.12",
                        "gwangyang-chem", NISO4, "0.223"),
    "ni-id-jp": _source("nickel", "weda-bay-nickel", "limonite nickel ore", "0.013",
                        "niihama-nickel", NISO4, "0.223"),
    "ni-id-id": _source("nickel", "weda-bay-nickel", "limonite nickel ore", "0.013",
                        "morowali-hpal", NISO4, "0.223"),
    "co-au-kr": _source("cobalt", "murrin-cobalt", "cobalt-nickel sulfide", "0.10",
                        "gwangyang-chem", COSO4, "0.21"),
    "co-au-fi": _source("cobalt", "murrin-cobalt", "cobalt-nickel sulfide", "0.10",
                        "kokkola-cobalt", COSO4, "0.21"),
    "co-cd-kr": _source("cobalt", "katanga-cobalt", "cobalt hydroxide", "0.30",
                        "gwangyang-chem", COSO4, "0.21"),
    "mn-au-kr": _source("manganese", "groote-manganese", "manganese ore", "0.44",
                        "gwangyang-chem", MNSO4, "0.325"),
    "mn-za-fi": _source("manganese", "kalahari-manganese", "manganese ore", "0.38",
                        "kokkola-cobalt", MNSO4, "0.325"),
    "gr-mz-us": _source("graphite", "balama-graphite", FLAKE, "0.95",
                        "vidalia-anode", SPHERICAL, "1"),
    "gr-ca-ca": _source("graphite", "lac-graphite", FLAKE, "0.95",
                        "becancour-anode", SPHERICAL, "1"),
    "gr-cn-cn": _source("graphite", "heilongjiang-graphite", FLAKE, "0.95",
                        "shandong-anode", SPHERICAL, "1"),
}
# The separator's alumina coating: bauxite mined in AU, film made in the US.
SEPARATOR_SOURCE = _source("aluminum", "weipa-bauxite", "bauxite", "0.25",
                           "carolina-separator", "ceramic-coated separator film", "1")
# fmt: on


@dataclass(frozen=True)
class Run:
    """One production run, from the mines to packs delivered to an automaker."""

    code: str
    story: str
    start: dt.date
    packs: int
    sources: tuple[str, ...]  # keys of SOURCES: lithium, nickel, cobalt, manganese, graphite
    cathode: str
    cells: str
    automaker: str
    pack_assembler: str = "michigan-packs"
    electrolyte: str = "texas-electrolyte"


QUALIFYING = ("li-au-jp", "ni-ca-kr", "co-au-kr", "mn-au-kr", "gr-mz-us")

# fmt: off
RUNS = (
    # Agreements count from their entry into force, judged on the date of each activity.
    Run("A23", "qualifying minerals, made in the US", dt.date(2023, 4, 24), 3, QUALIFYING,
        "ohio-cathode", "tennessee-cells", "rivermark-motors"),
    Run("A24", "qualifying minerals, made in the US", dt.date(2023, 11, 6), 4, QUALIFYING,
        "ohio-cathode", "tennessee-cells", "rivermark-motors"),
    Run("A25", "qualifying minerals, made in the US", dt.date(2024, 10, 1), 4, QUALIFYING,
        "ohio-cathode", "tennessee-cells", "rivermark-motors"),
    Run("B23", "qualifying minerals, cells made in Korea", dt.date(2023, 7, 3), 3,
        ("li-cl-cl", "ni-ca-kr", "co-au-kr", "mn-au-kr", "gr-ca-ca"),
        "pohang-cathode", "ochang-cells", "cascadia-motors"),
    # Nickel from Indonesia and manganese from South Africa, made into cathode
    # material in Finland: about 46% qualifying, between 2023's 40% and 2024's 50%.
    Run("C23", "mostly non-qualifying minerals, made in Mexico", dt.date(2023, 4, 24), 4,
        ("li-ar-us", "ni-id-id", "co-au-fi", "mn-za-fi", "gr-mz-us"),
        "harjavalta-cathode", "monterrey-cells", "sierra-motors"),
    Run("D23", "qualifying minerals, cells made in China", dt.date(2023, 5, 1), 3,
        ("li-au-jp", "ni-ca-kr", "co-cd-kr", "mn-au-kr", "gr-mz-us"),
        "ohio-cathode", "ningde-cells", "cascadia-motors"),
    Run("E24", "graphite mined and processed in China, made in the US", dt.date(2024, 2, 1), 3,
        ("li-au-jp", "ni-ca-kr", "co-au-kr", "mn-au-kr", "gr-cn-cn"),
        "ohio-cathode", "tennessee-cells", "rivermark-motors"),
    # Lithium from Argentina and nickel from Indonesia (no FTA), refined and
    # made into cathode material in Japan: they qualify through the US-Japan
    # critical minerals agreement alone (the what-if on it changes this claim).
    Run("J24", "lithium and nickel from non-FTA mines, processed in Japan", dt.date(2024, 1, 8), 3,
        ("li-ar-jp", "ni-id-jp", "co-au-kr", "mn-au-kr", "gr-mz-us"),
        "harima-cathode", "tennessee-cells", "rivermark-motors"),
)
# fmt: on


@dataclass(frozen=True)
class ClaimSpec:
    vin: str
    run: str
    acquired: dt.date
    placed_in_service: dt.date
    assembly: tuple[str, str]  # plant name, country
    expected_credit: str
    why: str


RIVERMARK_US = ("Rivermark Chattanooga", "US")
RIVERMARK_DE = ("Rivermark Leipzig", "DE")
CASCADIA_US = ("Cascadia Spartanburg", "US")
SIERRA_MX = ("Sierra Saltillo", "MX")


def _claim(
    vin: str, run: str, acquired: str, placed_in_service: str, assembly: tuple[str, str], credit: str, why: str
) -> ClaimSpec:
    return ClaimSpec(
        vin,
        run,
        dt.date.fromisoformat(acquired),
        dt.date.fromisoformat(placed_in_service),
        assembly,
        credit,
        why,
    )


# fmt: off
CLAIMS = (
    _claim("1RVM23A10PS000101", "A23", "2023-09-01", "2023-09-12", RIVERMARK_US, "7500",
           "both requirements met (2023: 40% / 50%)"),
    _claim("1RVM24A10PS000201", "A24", "2024-05-10", "2024-05-20", RIVERMARK_US, "7500",
           "both requirements met (2024: 50% / 60%)"),
    _claim("WRVM24A10PS000202", "A24", "2024-07-01", "2024-07-15", RIVERMARK_DE, "0",
           "final assembly outside North America"),
    _claim("1RVM25A10PS000301", "A25", "2025-04-01", "2025-04-10", RIVERMARK_US, "7500",
           "both requirements met (2025: 60% / 60%)"),
    _claim("1RVM25A10PS000302", "A25", "2025-09-20", "2025-10-08", RIVERMARK_US, "7500",
           "acquired by 2025-09-30, delivered after: still earns the credit"),
    _claim("1RVM25A10PS000303", "A25", "2025-10-20", "2025-11-03", RIVERMARK_US, "0",
           "acquired after 2025-09-30: the credit had ended"),
    _claim("1CSM24B20KR000101", "B23", "2024-02-01", "2024-02-14", CASCADIA_US, "3750",
           "battery components below 60% (cells made in Korea)"),
    _claim("1CSM25B20KR000102", "B23", "2025-05-20", "2025-06-02", CASCADIA_US, "3750",
           "battery components below 60% (cells made in Korea)"),
    _claim("3SRM23C30MX000101", "C23", "2023-09-25", "2023-10-05", SIERRA_MX, "7500",
           "critical minerals above 2023's 40%"),
    _claim("3SRM24C30MX000102", "C23", "2024-04-08", "2024-04-18", SIERRA_MX, "3750",
           "critical minerals below 2024's 50% (nickel and manganese from ID, ZA)"),
    _claim("3SRM25C30MX000103", "C23", "2025-05-12", "2025-05-22", SIERRA_MX, "0",
           "FEOC: nickel refined by an entity 25%-owned by a covered-nation government"),
    _claim("1CSM23D40CN000101", "D23", "2023-11-10", "2023-11-20", CASCADIA_US, "3750",
           "cells made in China: components below 50%, FEOC rule not yet in force"),
    _claim("1CSM24D40CN000102", "D23", "2024-03-01", "2024-03-11", CASCADIA_US, "0",
           "FEOC: battery cells made in China after 2023"),
    _claim("1RVM24E50GR000101", "E24", "2024-09-06", "2024-09-16", RIVERMARK_US, "7500",
           "Chinese graphite: FEOC minerals rule not yet in force"),
    _claim("1RVM25E50GR000102", "E24", "2025-02-01", "2025-02-10", RIVERMARK_US, "0",
           "FEOC: graphite mined and processed in China after 2024"),
    _claim("1RVM24J60JP000101", "J24", "2024-06-03", "2024-06-12", RIVERMARK_US, "7500",
           "Argentine lithium and Indonesian nickel processed in Japan qualify through the US-Japan "
           "agreement: without it, critical minerals fall below 2024's 50% ($3750)"),
)
# fmt: on

# --- §45X material assistance: a cell maker's direct materials -------------------


@dataclass(frozen=True)
class DirectMaterial:
    """One direct supplier of the §45X cell batch: its material, where its raw
    material was mined, what the cell maker paid for the material, and the
    certification it gave (None: it gave none).

    `certified` is (the supplier's direct material costs of the batch, the part
    of them not produced by a prohibited foreign entity), in USD.
    """

    supplier: str
    mine: str
    ore: str
    mineral: str
    material: str
    component: str
    cost_usd: str
    certified: tuple[str, str] | None
    tin: dict[str, str] | None = None


# Lordstown Cell Works (US) makes one battery-cell batch in 2026 from four
# direct suppliers' materials, $100,000 of direct material costs in all, and
# sells it in November 2026. By hand (docs/contract-45x.md, "The verdict"):
#
#   Gwangju cathode (KR)   $45,000  certified: $196,000 of its $200,000 not from
#                                   a PFE, so 45,000 x (1 - 196,000/200,000) =    $900
#   Osaka anode (JP)       $17,000  certified: all of it not from a PFE            $0
#   Ningbo electrolyte (CN) $24,000  certified, but Ningbo is designated a PFE
#                                   from 2026-09-01: on 2026-12-31, the status
#                                   date of 2026, it is one (whole cost)        $24,000
#   Georgia separator (US) $14,000  no certification (whole cost)              $14,000
#   total                 $100,000  attributed to PFEs                        $38,900
#
#   MACR = (100,000 - 38,900) / 100,000 = 61.1%: at least 2026's 60% for a
#   battery cell sold in 2026 (a pass), below 2027's 65% had the same mix been
#   sold in 2027 (a fail). The electrolyte was made in April, before the
#   designation: its supplier's status is judged on the last day of the
#   taxable year, not on the day of the activity.
MACR_TAXPAYER = "lordstown-cells"
MACR_CELLS = "lordstown-cells:CELL-2026-0615"
MACR_YEAR = 2026
# fmt: off
DIRECT_MATERIALS = (
    DirectMaterial("gwangju-cathode", "greenbushes-lithium", "spodumene concentrate SC6", "lithium",
                   "NCM811 cathode active material", "", "45000",
                   ("200000", "196000"), {"kind": "foreign", "value": "124-81-55673"}),
    DirectMaterial("osaka-anode", "lac-graphite", FLAKE, "graphite", SPHERICAL, "", "17000",
                   ("80000", "80000"),
                   # Osaka keeps its id out of the log: the SHA-256 of "T5120001123456".
                   {"kind": "foreign", "sha256": hashlib.sha256(b"T5120001123456").hexdigest()}),
    DirectMaterial("ningbo-electrolyte", "atacama-brine", "lithium brine concentrate", "lithium",
                   "LiPF6 liquid electrolyte", "liquid_electrolyte", "24000",
                   ("30000", "30000"), {"kind": "foreign", "value": "91330200MA2AB3CD4E"}),
    DirectMaterial("georgia-separator", "weipa-bauxite", "bauxite", "aluminum",
                   "ceramic-coated separator film", "separator", "14000", None),
)
# fmt: on
# Ningbo Electrolyte is a prohibited foreign entity from 2026-09-01 (fictional: demo data).
PFE_DESIGNATION = {
    "entity": "ningbo-electrolyte",
    "name": "Ningbo Electrolyte Co., Ltd.",
    "kind": "specified",
    "basis": "Section 1260H list of Chinese military companies (demo: a fictional entry)",
    "designated_from": dt.date(2026, 9, 1),
    "source": SOURCE,
    "confirmed": False,
    "notes": "Demo designation of a fictional organisation, for the §45X cell batch's story.",
}
MACR_DAYS = {
    "mined": dt.date(2026, 3, 2),
    "shipped to supplier": dt.date(2026, 3, 9),
    "made": dt.date(2026, 4, 14),
    "shipped to cell maker": dt.date(2026, 5, 4),
    "cells": dt.date(2026, 6, 15),
    "certified": dt.date(2026, 10, 1),
    "sold": dt.date(2026, 11, 20),
}


def designate_pfe() -> None:
    """The demo's §45X designation, a change of the rule data logged as a `rules` entry of its own."""
    with rule_change(reason="the demo's prohibited foreign entity", source=SOURCE, by="command:load_demo"):
        PfeDesignation.objects.create(**PFE_DESIGNATION)


def material_assistance(ledger: DemoLedger) -> str:
    """The §45X story: each supplier's chain to the cell maker, the cell batch with the
    direct material cost of every input, three certifications for 2026 (none from
    Georgia Separator) and the sale. Returns the cell batch."""
    days, taxpayer = MACR_DAYS, MACR_TAXPAYER
    inputs = []
    for item in DIRECT_MATERIALS:
        kg = Decimal(1000)
        ore = ledger.origin(
            item.mine, f"{item.mine}:ORE-45X", item.ore, kg * 4, {item.mineral: kg}, 4000, days["mined"]
        )
        ledger.transfer(item.mine, ore, item.supplier, days["shipped to supplier"])
        made = Product("LOT-2026", item.material, kg, Decimal(item.cost_usd) / 2, item.component)
        [batch] = ledger.transform(
            item.supplier, "manufacturing", {ore: kg * 4}, [made.as_dict(f"{item.supplier}:LOT-2026")], days["made"]
        )
        ledger.transfer(item.supplier, batch, taxpayer, days["shipped to cell maker"])
        inputs.append({"batch": batch, "prev": ledger.head(batch), "quantity": amount(kg)})
        inputs[-1]["direct_material_cost_usd"] = item.cost_usd
    cells = Product("CELL-2026-0615", "NCM811 pouch cell 60 Ah", 4000, 96000, "battery_cell", "unit")
    ledger.post(
        taxpayer,
        "transform",
        days["cells"],
        activity="manufacturing",
        site=ledger.site(taxpayer, "plant"),
        inputs=inputs,
        outputs=[cells.as_dict(MACR_CELLS)],
    )
    for item in DIRECT_MATERIALS:
        if item.certified is not None:
            supplier_certification(ledger, item, f"{item.supplier}:LOT-2026")
    ledger.post(
        taxpayer,
        "sale",
        days["sold"],
        batch=MACR_CELLS,
        prev=ledger.head(MACR_CELLS),
        quantity=amount(4000),
        sold_on=days["sold"].isoformat(),
        buyer={"name": "Lakeshore Pack Assembly", "country": "US"},
        binding_contract_on="2026-02-02",
    )
    return MACR_CELLS


def supplier_certification(ledger: DemoLedger, item: DirectMaterial, batch: str) -> None:
    """The supplier's certification to the cell maker for 2026, co-signed by the cell maker,
    the batch's custodian (contract-45x §2)."""
    assert item.certified is not None and item.tin is not None
    dmc, non_pfe = item.certified
    fields: dict[str, object] = {
        "batch": batch,
        "prev": ledger.head(batch),
        "taxpayer": MACR_TAXPAYER,
        "taxable_year": MACR_YEAR,
        "status": "certified",
        "supplier_tin": item.tin,
        "not_produced_by_pfe": True,
        "no_knowledge_of_prior_pfe": True,
        "direct_material_cost_usd": dmc,
        "non_pfe_direct_material_cost_usd": non_pfe,
        "penalties_of_perjury": PERJURY_STATEMENT,
    }
    body = ledger.signed(item.supplier, "supplier_certification", MACR_DAYS["certified"], fields, MACR_TAXPAYER)
    party = ledger.parties[item.supplier]
    checks.append_attestation(body, acting_org=party.org, acting_user=party.user, now=ledger.now)


# An unused ore lot, and the statement a newcomer can post by hand.
SPARE_BATCH = "greenbushes-lithium:SC6-SPARE"


# --- signing and posting ------------------------------------------------------


@dataclass
class Party:
    org: Organization
    token: str
    private_key: Ed25519PrivateKey
    keyid: str
    user: object = None  # the organisation's API user, who submits its statements

    @property
    def slug(self) -> str:
        return self.org.slug


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def on(day: dt.date, hour: int = 9) -> str:
    return rfc3339(dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC))


Quantity = Decimal | int


def amount(value: Quantity) -> str:
    return decimal_str(Decimal(value), places=3)


@dataclass
class DemoLedger:
    """Signs statements as their issuer's client would and appends them."""

    parties: dict[str, Party]
    now: dt.datetime = field(default_factory=timezone.now)

    def envelope(self, issuer: str, kind: str, day: dt.date, **fields: object) -> bytes:
        return self.signed(issuer, kind, day, fields)

    def signed(
        self, issuer: str, kind: str, day: dt.date, fields: dict[str, object], cosigner: str | None = None
    ) -> bytes:
        """The envelope of a statement signed by the issuer (and `cosigner`)."""
        payload = {
            "schema": SCHEMA,
            "type": kind,
            "issuer": issuer,
            "issued_at": rfc3339(self.now),
            "occurred_at": on(day),
            **fields,
        }
        signers = [self.parties[name] for name in dict.fromkeys([issuer, cosigner or issuer])]
        keys = [(party.keyid, party.private_key) for party in signers]
        signed = dsse.sign(PAYLOAD_TYPE, json.dumps(payload).encode(), keys)
        return json.dumps(signed.to_stored()).encode()

    def post(self, issuer: str, kind: str, day: dt.date, **fields: object) -> Entry:
        body = self.envelope(issuer, kind, day, **fields)
        party = self.parties[issuer]
        return checks.append_attestation(body, acting_org=party.org, acting_user=party.user, now=self.now).entry

    @staticmethod
    def head(batch: str) -> str:
        return Batch.objects.values_list("head", flat=True).get(id=batch)

    def site(self, org: str, plant: str) -> dict[str, str]:
        return {
            "name": f"{self.parties[org].org.name}, {plant}",
            "country": self.parties[org].org.country.code,
        }

    def origin(
        self,
        org: str,
        batch: str,
        material: str,
        quantity: Quantity,
        minerals: dict[str, Quantity],
        value: Quantity,
        day: dt.date,
    ) -> str:
        output = {
            "batch": batch,
            "material": material,
            "quantity": amount(quantity),
            "unit": "kg",
            "minerals": {name: amount(kg) for name, kg in minerals.items()},
            "value_added_usd": amount(value),
        }
        self.post(org, "origin", day, activity="extraction", site=self.site(org, "mine"), outputs=[output])
        return batch

    def transform(
        self, org: str, activity: str, inputs: dict[str, Decimal], outputs: list[dict[str, str]], day: dt.date
    ) -> list[str]:
        """inputs: {batch: quantity}; outputs: as signed (see Product.as_dict)."""
        self.post(
            org,
            "transform",
            day,
            activity=activity,
            site=self.site(org, "plant"),
            inputs=[{"batch": b, "prev": self.head(b), "quantity": amount(q)} for b, q in inputs.items()],
            outputs=outputs,
        )
        return [item["batch"] for item in outputs]

    def transfer(self, org: str, batch: str, to: str, day: dt.date) -> None:
        self.post(org, "transfer", day, batch=batch, prev=self.head(batch), to=to)

    def certify(self, org: str, batch: str, statement: dict[str, str], day: dt.date) -> None:
        """A certification co-signed by the batch's custodian, whose consent it needs."""
        document = {"name": f"{batch.split(':')[1]}-report.pdf", "sha256": "ab" * 32}
        custodian = Batch.objects.values_list("custodian_id", flat=True).get(id=batch)
        fields: dict[str, object] = {
            "batch": batch,
            "prev": self.head(batch),
            "statement": statement,
            "documents": [document],
        }
        body = self.signed(org, "certify", day, fields, cosigner=custodian)
        party = self.parties[org]
        checks.append_attestation(body, acting_org=party.org, acting_user=party.user, now=self.now)


# --- one production run ---------------------------------------------------------


@dataclass(frozen=True)
class Product:
    """The one output of a step: local name, material, quantity, value added."""

    name: str
    material: str
    quantity: Decimal | int
    value: Decimal | int
    component: str = ""
    unit: str = "kg"

    def as_dict(self, batch: str) -> dict[str, str]:
        """The output as a transform statement carries it."""
        made = {"batch": batch, "material": self.material, "quantity": amount(self.quantity)}
        made |= {"unit": self.unit, "value_added_usd": amount(self.value)}
        return made | ({"component": self.component} if self.component else {})


@dataclass
class RunBuilder:
    """Builds one Run's statements, in the order the activities happened.

    Every step consumes the whole of its input batches and makes one output
    batch named `<maker>:<NAME>-<run code>`.
    """

    ledger: DemoLedger
    run: Run

    def day(self, milestone: str) -> dt.date:
        return self.run.start + dt.timedelta(days=RUN_DAYS[milestone])

    def usd(self, step: str) -> Decimal:
        return Decimal(PER_PACK_USD[step]) * self.run.packs

    def kg(self, mineral: str) -> Decimal:
        return PACK_MINERALS[mineral] * self.run.packs

    def lot(self, org: str, name: str) -> str:
        return f"{org}:{name}-{self.run.code}"

    def make(self, org: str, activity: str, inputs: list[str], output: Product, milestone: str) -> str:
        """One transform by `org` that consumes all of `inputs` and makes `output`."""
        quantities = dict(Batch.objects.filter(id__in=inputs).values_list("id", "quantity"))
        made = output.as_dict(self.lot(org, output.name))
        self.ledger.transform(org, activity, quantities, [made], self.day(milestone))
        return made["batch"]

    def build(self) -> str:
        """Post the run's statements; returns the pack batch, at the automaker."""
        refined = {}
        for key in self.run.sources:
            source = SOURCES[key]
            refined[source.mineral] = self.mine_and_refine(source)
        lithium, lithium_salt = refined.pop("lithium")
        anode_material = refined.pop("graphite")[0]
        cam = self.cathode_material(lithium, [made[0] for made in refined.values()])
        electrolyte = self.electrolyte(lithium_salt)
        separator = self.separator()
        cells = self.cells(cam, anode_material, electrolyte, separator)
        return self.packs(cells)

    def mine_and_refine(self, source: Source) -> list[str]:
        """Mine, ship to the refiner, refine, ship on; returns the refined batches."""
        mineral, ledger = source.mineral, self.ledger
        ore_kg = self.kg(mineral) / source.grade
        ore = ledger.origin(
            source.mine,
            self.lot(source.mine, "ORE"),
            source.ore,
            ore_kg,
            {mineral: self.kg(mineral)},
            self.usd(f"extract:{mineral}"),
            self.day("mined"),
        )
        ledger.transfer(source.mine, ore, source.refiner, self.day("shipped to refiner"))
        product_kg = self.kg(mineral) / source.product_grade
        step = "anode_material" if mineral == "graphite" else f"refine:{mineral}"
        outputs = [Product(mineral.upper()[:2], source.product, product_kg, self.usd(step))]
        if mineral == "lithium":  # part of the lithium goes to the electrolyte's LiPF6 salt
            outputs.append(Product("LIPF6", "lithium salt for LiPF6", product_kg / 24, 0))
        made = ledger.transform(
            source.refiner,
            "processing",
            {ore: ore_kg},
            [output.as_dict(self.lot(source.refiner, output.name)) for output in outputs],
            self.day("refined"),
        )
        # Graphite goes as anode material to the cell maker, the rest to the
        # cathode maker; the LiPF6 salt to the electrolyte maker.
        first = self.run.cells if mineral == "graphite" else self.run.cathode
        for batch, to in zip(made, [first, self.run.electrolyte], strict=False):
            ledger.transfer(source.refiner, batch, to, self.day("shipped to processor"))
        return made

    def cathode_material(self, lithium: str, metals: list[str]) -> str:
        """Nickel, cobalt and manganese sulfates to pCAM; pCAM and lithium to NMC811."""
        maker, packs = self.run.cathode, self.run.packs
        pcam = Product("PCAM", "NMC811 precursor hydroxide (pCAM)", 75 * packs, self.usd("pcam"))
        pcam_batch = self.make(maker, "processing", metals, pcam, "precursor")
        cam = Product("CAM", "NMC811 cathode active material", 90 * packs, self.usd("cam"))
        cam_batch = self.make(maker, "processing", [pcam_batch, lithium], cam, "cathode material")
        self.ledger.transfer(maker, cam_batch, self.run.cells, self.day("shipped to cell maker"))
        return cam_batch

    def electrolyte(self, lithium_salt: str) -> str:
        maker = self.run.electrolyte
        product = Product(
            "ELY",
            "LiPF6 liquid electrolyte",
            12 * self.run.packs,
            self.usd("electrolyte"),
            "liquid_electrolyte",
        )
        electrolyte = self.make(maker, "manufacturing", [lithium_salt], product, "electrolyte")
        self.ledger.transfer(maker, electrolyte, self.run.cells, self.day("shipped to cell maker"))
        return electrolyte

    def separator(self) -> str:
        source, ledger = SEPARATOR_SOURCE, self.ledger
        bauxite = ledger.origin(
            source.mine,
            self.lot(source.mine, "BX"),
            source.ore,
            self.kg("aluminum") / source.grade,
            {"aluminum": self.kg("aluminum")},
            self.usd("extract:aluminum"),
            self.day("mined"),
        )
        ledger.transfer(source.mine, bauxite, source.refiner, self.day("shipped to refiner"))
        product = Product("SEP", source.product, 3 * self.run.packs, self.usd("separator"), "separator")
        film = self.make(source.refiner, "manufacturing", [bauxite], product, "separator")
        ledger.transfer(source.refiner, film, self.run.cells, self.day("shipped to cell maker"))
        return film

    def cells(self, cam: str, anode_material: str, electrolyte: str, separator: str) -> str:
        maker, packs, usd = self.run.cells, self.run.packs, self.usd
        cathode = Product(
            "CATH", "NMC811 cathode electrode coil", 95 * packs, usd("cathode_electrode"),
            "cathode_electrode",
        )  # fmt: skip
        anode = Product(
            "ANOD", "graphite anode electrode coil", 60 * packs, usd("anode_electrode"),
            "anode_electrode",
        )  # fmt: skip
        cell = Product(
            "CELL", "NMC811 pouch cell 60 Ah", CELLS_PER_PACK * packs, usd("cells"), "battery_cell",
            "unit",
        )  # fmt: skip
        inputs = [
            self.make(maker, "manufacturing", [cam], cathode, "electrodes"),
            self.make(maker, "manufacturing", [anode_material], anode, "electrodes"),
            electrolyte,
            separator,
        ]
        cells = self.make(maker, "manufacturing", inputs, cell, "cells")
        self.ledger.transfer(maker, cells, self.run.pack_assembler, self.day("shipped to pack assembler"))
        return cells

    def packs(self, cells: str) -> str:
        maker, packs, usd = self.run.pack_assembler, self.run.packs, self.usd
        module = Product(
            "MOD", "battery module (24 cells)", MODULES_PER_PACK * packs, usd("modules"),
            "battery_module", "unit",
        )  # fmt: skip
        pack = Product("PACK", "60 kWh battery pack", packs, usd("packs"), "battery_pack", "unit")
        modules = self.make(maker, "assembly", [cells], module, "modules")
        pack_batch = self.make(maker, "assembly", [modules], pack, "packs")
        self.ledger.transfer(maker, pack_batch, self.run.automaker, self.day("delivered to automaker"))
        return pack_batch


# --- loading ------------------------------------------------------------------------


@dataclass
class Loaded:
    """What `load` made, for the command to print and save."""

    parties: dict[str, Party]
    packs: dict[str, str]
    next_attestation: bytes
    checkpoint_size: int | None


def is_loaded() -> bool:
    return Organization.objects.filter(slug=ORGS[0].slug).exists()


def load(*, now: dt.datetime | None = None) -> Loaded:
    """Create the organisations, keys, rule designations, runs and claims."""
    with transaction.atomic():
        parties = {spec.slug: create_party(spec) for spec in ORGS}
        # A change of the rule data, logged with its reason and source (contract §12).
        with rule_change(reason="the demo's designated entity", source=SOURCE, by="command:load_demo"):
            for designation in DESIGNATIONS:
                FeocDesignation.objects.create(source=SOURCE, **designation)
        # Statements are signed after the keys were registered.
        ledger = DemoLedger(parties, now=max(now or timezone.now(), timezone.now()))
        packs = {run.code: RunBuilder(ledger, run).build() for run in RUNS}
        certify_some(ledger)
        designate_pfe()
        material_assistance(ledger)
        for spec in CLAIMS:
            post_claim(ledger, spec, packs[spec.run])
        next_attestation = spare_lot(ledger)
        create_users(parties["ledger-audit"].org)
    return Loaded(parties, packs, next_attestation, publish())


def create_party(spec: OrgSpec) -> Party:
    org, token = create_organization(slug=spec.slug, name=spec.name, country=spec.country, roles=list(spec.roles))
    private_key = Ed25519PrivateKey.generate()
    key, _ = register_key(organization=org, public_key_b64=dsse.b64encode(dsse.raw_public_key(private_key)))
    return Party(org=org, token=token.key, private_key=private_key, keyid=key.keyid, user=token.user)


def certify_some(ledger: DemoLedger) -> None:
    """Third-party statements on two ore lots: an assay and a due-diligence audit."""
    ledger.certify("assay-labs", "greenbushes-lithium:ORE-A23", {"assay": "Li2O 6.02%"}, RUNS[0].start)
    ledger.certify(
        "assay-labs",
        "katanga-cobalt:ORE-D23",
        {"due_diligence": "OECD Annex II audit: artisanal mining excluded"},
        dt.date(2023, 5, 10),
    )


def post_claim(ledger: DemoLedger, spec: ClaimSpec, pack: str) -> None:
    automaker = next(run.automaker for run in RUNS if run.code == spec.run)
    plant, country = spec.assembly
    ledger.post(
        automaker,
        "claim",
        spec.placed_in_service,
        batch=pack,
        prev=ledger.head(pack),
        quantity="1",
        vin=spec.vin,
        acquired=spec.acquired.isoformat(),
        placed_in_service=spec.placed_in_service.isoformat(),
        final_assembly={"name": plant, "country": country},
    )


def spare_lot(ledger: DemoLedger) -> bytes:
    """A new ore lot, and a signed transfer of it, ready for a newcomer to POST."""
    mine, today = "greenbushes-lithium", ledger.now.date()
    mined = today - dt.timedelta(days=20)
    ledger.origin(mine, SPARE_BATCH, "spodumene concentrate SC6", 20000, {"lithium": 560}, 8400, mined)
    return ledger.envelope(
        mine,
        "transfer",
        today - dt.timedelta(days=1),
        batch=SPARE_BATCH,
        prev=ledger.head(SPARE_BATCH),
        to="kansai-refining",
    )


def create_users(audit_firm: Organization) -> None:
    from audit.auditors import create_auditor

    user_model = get_user_model()
    if not user_model.objects.filter(username=ADMIN_USERNAME).exists():
        user_model.objects.create_superuser(ADMIN_USERNAME, password=ADMIN_PASSWORD)
    create_auditor(AUDITOR_USERNAME, password=AUDITOR_PASSWORD, organization=audit_firm)


def publish() -> int | None:
    """A checkpoint of the whole demo log, cosigned by the witnesses that are
    configured (LEDGER_WITNESSES) when they answer in time: its tree size."""
    from provenance import witnesses
    from provenance.checkpoints import publish_checkpoint

    checkpoint = publish_checkpoint()
    witnesses.gather(checkpoint)
    return checkpoint.tree_size


def claim_count() -> int:
    return Claim.objects.count()


def story(vin: str) -> str:
    """What a demo claim shows and the verdict it is meant to get ("" for other VINs)."""
    spec = next((spec for spec in CLAIMS if spec.vin == vin), None)
    if spec is None:
        return ""
    run = next(run for run in RUNS if run.code == spec.run)
    return f"Run {run.code}, {run.story}. Expected {dollars(spec.expected_credit)}: {spec.why}."


def batch_story(batch: str, taxable_year: int) -> str:
    """What the demo's §45X cell batch shows for 2026 ("" for other batches and years)."""
    if batch != MACR_CELLS or taxable_year != MACR_YEAR:
        return ""
    return (
        "Demo: Lordstown Cell Works made these cells from four direct suppliers' materials, $100,000 in all. "
        "Expected a pass at 2026's 60% with a MACR of 61.1%: $24,000 of electrolyte from Ningbo, designated a "
        "prohibited foreign entity from 2026-09-01 (after it made the electrolyte: status is judged on "
        "2026-12-31), $14,000 of separator from Georgia, which gave no certification, and $900 of Gwangju's "
        "cathode material (2% of its certified costs) are attributed. Sold in 2027, the same mix would fail "
        "65%: try the what-if."
    )


def verify_claims() -> Iterator[tuple[ClaimSpec, Verification]]:
    """Verify every demo claim from the loading command (no user: the verdicts
    name the auditors' organisation and a null user, contract §5); yields
    (spec, verification)."""
    from audit.engine import verify_claim

    for spec in CLAIMS:
        yield spec, verify_claim(spec.vin, requested_by=None)


# --- files under VAR_DIR/demo ---------------------------------------------------------


def write_files(loaded: Loaded, directory: Path) -> None:
    """Private keys (PEM, 0600), tokens and the pre-signed statement."""
    keys = directory / "keys"
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    for slug, party in loaded.parties.items():
        pem = party.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        write_private(keys / f"{slug}.pem", pem)
    tokens = {slug: party.token for slug, party in loaded.parties.items()}
    write_private(directory / "tokens.json", json.dumps(tokens, indent=2).encode() + b"\n")
    keyids = {slug: party.keyid for slug, party in loaded.parties.items()}
    (directory / "keyids.json").write_text(json.dumps(keyids, indent=2) + "\n")
    (directory / "next-attestation.json").write_bytes(loaded.next_attestation + b"\n")


def write_private(path: Path, content: bytes) -> None:
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def read_tokens(directory: Path) -> dict[str, str]:
    path = directory / "tokens.json"
    return json.loads(path.read_text()) if path.exists() else {}
