"""DOMAIN.md's rule data built in plain Python, for tests that need no database.

`test_data_migration` checks that the data migration loads exactly this, so
the pure tests and the database agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from cairn_core.regimes.s30d import rules

D = dt.date.fromisoformat
FTA_PARTNERS = [
    "AU",
    "BH",
    "CA",
    "CL",
    "CO",
    "CR",
    "DO",
    "SV",
    "GT",
    "HN",
    "IL",
    "JO",
    "KR",
    "MX",
    "MA",
    "NI",
    "OM",
    "PA",
    "PE",
    "SG",
]
JAPAN_MINERALS = frozenset({"cobalt", "graphite", "lithium", "manganese", "nickel"})
BATTERY_MINERALS = frozenset({"lithium", "nickel", "cobalt", "manganese", "graphite", "aluminum"})
CRITICAL_MINERALS = frozenset(
    [
        "aluminum",
        "antimony",
        "arsenic",
        "barite",
        "beryllium",
        "bismuth",
        "cerium",
        "cesium",
        "chromium",
        "cobalt",
        "dysprosium",
        "erbium",
        "europium",
        "fluorspar",
        "gadolinium",
        "gallium",
        "germanium",
        "graphite",
        "hafnium",
        "holmium",
        "indium",
        "iridium",
        "lanthanum",
        "lithium",
        "lutetium",
        "magnesium",
        "manganese",
        "neodymium",
        "nickel",
        "niobium",
        "palladium",
        "platinum",
        "praseodymium",
        "rhodium",
        "rubidium",
        "ruthenium",
        "samarium",
        "scandium",
        "tantalum",
        "tellurium",
        "terbium",
        "thulium",
        "tin",
        "titanium",
        "tungsten",
        "vanadium",
        "ytterbium",
        "yttrium",
        "zinc",
        "zirconium",
    ]
)


# Each FTA's entry into force (USTR's agreement pages): an agreement counts
# for activities from that day (IRC §30D(e)(1)(A)(i), "in effect").
IN_FORCE = {
    "AU": "2005-01-01",
    "BH": "2006-08-01",
    "CA": "2020-07-01",
    "CL": "2004-01-01",
    "CO": "2012-05-15",
    "CR": "2009-01-01",
    "DO": "2007-03-01",
    "SV": "2006-03-01",
    "GT": "2006-07-01",
    "HN": "2006-04-01",
    "IL": "1985-09-01",
    "JO": "2001-12-17",
    "KR": "2012-03-15",
    "MX": "2020-07-01",
    "MA": "2006-01-01",
    "NI": "2006-04-01",
    "OM": "2009-01-01",
    "PA": "2012-10-31",
    "PE": "2009-02-01",
    "SG": "2004-01-01",
}


def fta(code: str) -> rules.AgreementRule:
    return rules.AgreementRule(
        slug=f"us-{code.lower()}-fta",
        title=f"FTA {code}",
        kind="fta",
        parties=frozenset({"US", code}),
        counts_from=D(IN_FORCE[code]),
        source="https://ustr.gov/trade-agreements/free-trade-agreements/",
        covers_all=True,
        entered_into_force=D(IN_FORCE[code]),
    )


def nafta(code: str) -> rules.AgreementRule:
    """NAFTA, for Canadian and Mexican activities before USMCA (2020-07-01)."""
    return rules.AgreementRule(
        slug=f"us-{code.lower()}-nafta",
        title=f"NAFTA {code}",
        kind="fta",
        parties=frozenset({"US", code}),
        counts_from=D("1994-01-01"),
        ends=D("2020-06-30"),
        source="https://ustr.gov/trade-agreements/free-trade-agreements/north-american-free-trade-agreement-nafta",
        covers_all=True,
        signed=D("1992-12-17"),
        entered_into_force=D("1994-01-01"),
    )


JAPAN = rules.AgreementRule(
    slug="us-japan-cma",
    title="US–Japan Critical Minerals Agreement",
    kind="cma",
    parties=frozenset({"US", "JP"}),
    counts_from=D("2023-03-28"),
    source="https://ustr.gov/",
    minerals=JAPAN_MINERALS,
    signed=D("2023-03-28"),
    entered_into_force=D("2023-03-28"),
)

PERCENTAGES = tuple(
    rules.PercentageRow(D(start), D(end), Decimal(cm), Decimal(bc))
    for start, end, cm, bc in [
        ("2023-04-18", "2023-12-31", "40", "50"),
        ("2024-01-01", "2024-12-31", "50", "60"),
        ("2025-01-01", "2025-12-31", "60", "60"),
        ("2026-01-01", "2026-12-31", "70", "70"),
        ("2027-01-01", "2027-12-31", "80", "80"),
        ("2028-01-01", "2028-12-31", "80", "90"),
        ("2029-01-01", "2032-12-31", "80", "100"),
    ]
)

CREDIT = rules.CreditTerms(
    critical_minerals_usd=Decimal("3750"),
    battery_components_usd=Decimal("3750"),
    requirements_from=D("2023-04-18"),
    acquired_through=D("2025-09-30"),
    north_america=frozenset({"US", "CA", "MX"}),
    credit_from=D("2023-01-01"),
    value_added_test_through=D("2026-12-31"),
    battery_components=rules.REGULATION_COMPONENTS,
)

FEOC = rules.FeocTerms(
    covered_nations=frozenset({"CN", "RU", "KP", "IR"}),
    components_from=D("2024-01-01"),
    minerals_from=D("2025-01-01"),
    control_threshold_pct=Decimal("25"),
    impracticable_until=D("2026-12-31"),
    impracticable_items=("graphite in anode material", "electrolyte salts", "binders", "additives"),
)


def domain_ruleset(**changes) -> rules.RuleSet:
    ruleset = rules.RuleSet(
        agreements=tuple(
            sorted([*(fta(code) for code in FTA_PARTNERS), nafta("CA"), nafta("MX"), JAPAN], key=lambda a: a.slug)
        ),
        percentages=PERCENTAGES,
        credit=CREDIT,
        feoc=FEOC,
        minerals=CRITICAL_MINERALS,
        battery_minerals=BATTERY_MINERALS,
        version="test",
    )
    return replace(ruleset, **changes)


def with_agreement(ruleset: rules.RuleSet, agreement: rules.AgreementRule) -> rules.RuleSet:
    """`ruleset` with `agreement` replacing the one of the same slug (or added)."""
    others = tuple(item for item in ruleset.agreements if item.slug != agreement.slug)
    return replace(ruleset, agreements=(*others, agreement))
