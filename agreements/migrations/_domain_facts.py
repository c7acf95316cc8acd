"""Load the reference data of DOMAIN.md, each row with its source.

The statute's 50 critical minerals, the 20 comprehensive FTA partners and
Japan's critical minerals agreement, both percentage schedules, the credit's
parameters and end, and the FEOC rule. Each row also gets its first history
record, so that `load_ruleset(as_of=...)` reconstructs the rules from the
day they were loaded. Later changes are made in the admin, which keeps the
history. The data is written out here, not imported, so that this migration
means the same thing forever.
"""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

REASON = "Loaded from DOMAIN.md (migration agreements 0002)"

MINERALS_SOURCE = (
    "https://taxnews.ey.com/news/2024-1142-final-regulations-on-clean-vehicle-credits-and-critical-"
    "mineral-standards-modify-critical-minerals-test-extend-compliance-until-2027"
)
CREDIT_SOURCE = (
    "https://www.linklaters.com/en-us/knowledge/publications/alerts-newsletters-and-guides/2023/"
    "april/03/irs-issues-proposed-regulations--on-section-30d-clarifying-critical-minerals-and-"
    "battery-components"
)
CUTOFF_SOURCE = "https://www.nhada.com/news/irs-issues-fact-sheet-about-expiration-of-clean-vehicle-credits"
FTA_SOURCE = (
    "https://www.everycrsreport.com/files/"
    "2024-04-02_IN12145_62d4515ef8fafe00660c6cf64e53e10ba66791bc.html"
)
JAPAN_SOURCE = (
    "https://ustr.gov/about-us/policy-offices/press-office/press-releases/2023/march/"
    "united-states-and-japan-sign-critical-minerals-agreement"
)
FEOC_SOURCE = (
    "https://www.insideenergyandenvironment.com/2024/05/further-clarity-to-the-electric-vehicle-"
    "industry-and-consumers-is-here-but-it-is-not-done/"
)

# IRC §45X(c)(6), by reference from §30D(e)(1): 50 minerals.
CRITICAL_MINERALS = [
    "aluminum", "antimony", "arsenic", "barite", "beryllium", "bismuth", "cerium", "cesium",
    "chromium", "cobalt", "dysprosium", "erbium", "europium", "fluorspar", "gadolinium",
    "gallium", "germanium", "graphite", "hafnium", "holmium", "indium", "iridium", "lanthanum",
    "lithium", "lutetium", "magnesium", "manganese", "neodymium", "nickel", "niobium",
    "palladium", "platinum", "praseodymium", "rhodium", "rubidium", "ruthenium", "samarium",
    "scandium", "tantalum", "tellurium", "terbium", "thulium", "tin", "titanium", "tungsten",
    "vanadium", "ytterbium", "yttrium", "zinc", "zirconium",
]
BATTERY_RELEVANT = {"lithium", "nickel", "cobalt", "manganese", "graphite", "aluminum"}

CAFTA_DR = "Dominican Republic–Central America–United States Free Trade Agreement (CAFTA-DR)"
USMCA = "United States–Mexico–Canada Agreement (USMCA)"
FTA_PARTNERS = {
    "AU": "United States–Australia Free Trade Agreement",
    "BH": "United States–Bahrain Free Trade Agreement",
    "CA": f"{USMCA}: Canada",
    "CL": "United States–Chile Free Trade Agreement",
    "CO": "United States–Colombia Trade Promotion Agreement",
    "CR": f"{CAFTA_DR}: Costa Rica",
    "DO": f"{CAFTA_DR}: Dominican Republic",
    "SV": f"{CAFTA_DR}: El Salvador",
    "GT": f"{CAFTA_DR}: Guatemala",
    "HN": f"{CAFTA_DR}: Honduras",
    "IL": "United States–Israel Free Trade Agreement",
    "JO": "United States–Jordan Free Trade Agreement",
    "KR": "United States–Korea Free Trade Agreement (KORUS)",
    "MX": f"{USMCA}: Mexico",
    "MA": "United States–Morocco Free Trade Agreement",
    "NI": f"{CAFTA_DR}: Nicaragua",
    "OM": "United States–Oman Free Trade Agreement",
    "PA": "United States–Panama Trade Promotion Agreement",
    "PE": "United States–Peru Trade Promotion Agreement",
    "SG": "United States–Singapore Free Trade Agreement",
}
FTA_NOTES = (
    "Partner treated as having a free trade agreement with the US for the critical minerals "
    "test from 2023-04-18 (CRS IN12145). The cited sources give no signature or entry-into-force "
    "date: left blank. Covers every critical mineral."
)
JAPAN_NOTES = (
    "Agreement on Strengthening Critical Minerals Supply Chains, signed in Washington on "
    "2023-03-28 and in force on signature. The parties refrain from export duties on the covered "
    "minerals, cooperate on non-market practices and on reviewing foreign investment, and commit "
    "to labour and environmental standards; they may amend or terminate it. UNCONFIRMED: the "
    "review cadence (every two years, as reported). The minerals requirement itself applies to "
    "vehicles placed in service from 2023-04-18."
)

# placed in service from, to (inclusive), critical minerals %, battery components %
PERCENTAGES = [
    ("2023-04-18", "2023-12-31", "40", "50"),
    ("2024-01-01", "2024-12-31", "50", "60"),
    ("2025-01-01", "2025-12-31", "60", "60"),
    ("2026-01-01", "2026-12-31", "70", "70"),
    ("2027-01-01", "2027-12-31", "80", "80"),
    ("2028-01-01", "2028-12-31", "80", "90"),
    ("2029-01-01", "2032-12-31", "80", "100"),
]
UNREACHABLE = (
    "Unreachable after the credit's end (vehicles acquired after 2025-09-30 earn no credit); "
    "kept as data."
)


def day(text):
    return dt.date.fromisoformat(text)


def record_history(apps, model_name, objects, when, *, history_type="+", reason=REASON):
    """Write each row's history record ("+" created, "~" changed), as the admin would have."""
    historical = apps.get_model("agreements", f"Historical{model_name}")
    historical.objects.bulk_create(
        historical(
            **{field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields},
            history_date=when,
            history_type=history_type,
            history_change_reason=reason,
        )
        for obj in objects
    )


def create(apps, model_name, rows, when):
    model = apps.get_model("agreements", model_name)
    objects = model.objects.bulk_create(model(**row) for row in rows)
    record_history(apps, model_name, objects, when)


def minerals():
    return [
        {
            "slug": slug,
            "name": slug.capitalize(),
            "battery_relevant": slug in BATTERY_RELEVANT,
            "source": MINERALS_SOURCE,
            "notes": "Applicable critical mineral, IRC §45X(c)(6) (by reference from §30D(e)(1)).",
        }
        for slug in CRITICAL_MINERALS
    ]


def agreements():
    rows = [
        {
            "slug": f"us-{code.lower()}-fta",
            "title": title,
            "kind": "fta",
            "parties": ["US", code],
            "counts_from": day("2023-04-18"),
            "covers_all_minerals": True,
            "source": FTA_SOURCE,
            "notes": FTA_NOTES,
        }
        for code, title in FTA_PARTNERS.items()
    ]
    rows.append(
        {
            "slug": "us-japan-cma",
            "title": "US–Japan Critical Minerals Agreement",
            "kind": "cma",
            "parties": ["US", "JP"],
            "signed": day("2023-03-28"),
            "entered_into_force": day("2023-03-28"),
            "counts_from": day("2023-03-28"),
            "covered_minerals": ["cobalt", "graphite", "lithium", "manganese", "nickel"],
            "review_cadence_months": 24,
            "source": JAPAN_SOURCE,
            "notes": JAPAN_NOTES,
            "unconfirmed": True,
        }
    )
    return rows


def percentages():
    return [
        {
            "placed_in_service_from": day(start),
            "placed_in_service_to": day(end),
            "critical_minerals_pct": Decimal(minerals_pct),
            "battery_components_pct": Decimal(components_pct),
            "source": CREDIT_SOURCE,
            "notes": UNREACHABLE if start >= "2027" else "",
        }
        for start, end, minerals_pct, components_pct in PERCENTAGES
    ]


def credit():
    return {
        "slug": "irc-30d",
        "critical_minerals_usd": Decimal("3750"),
        "battery_components_usd": Decimal("3750"),
        "requirements_from": day("2023-04-18"),
        "acquired_through": day("2025-09-30"),
        "north_america": ["US", "CA", "MX"],
        "source": CREDIT_SOURCE,
        "cutoff_source": CUTOFF_SOURCE,
        "notes": (
            "$3,750 per requirement met. The credit ended for vehicles acquired after 2025-09-30 "
            "(Public Law 119-21 §70502, signed 2025-07-04); acquired = written binding contract "
            "plus a payment. A vehicle acquired by then and delivered later earns the credit under "
            "the rules of its placed-in-service date. Final regulations: T.D. 9995, 89 FR 37706 "
            "(2024-05-06)."
        ),
    }


def feoc():
    return {
        "slug": "irc-30d-feoc",
        "covered_nations": ["CN", "RU", "KP", "IR"],
        "components_from": day("2024-01-01"),
        "minerals_from": day("2025-01-01"),
        "control_threshold_pct": Decimal("25"),
        "impracticable_until": day("2026-12-31"),
        "impracticable_items": [
            "graphite in anode material",
            "electrolyte salts",
            "binders",
            "additives",
        ],
        "source": FEOC_SOURCE,
        "notes": (
            "Components: vehicles placed in service after 2023-12-31; critical minerals: after "
            "2024-12-31. A FEOC performs the activity in a covered nation, is incorporated or "
            "headquartered there, or a covered-nation government holds 25% or more of board "
            "seats, voting rights or equity (each tested alone). The impracticable-to-trace "
            "election is kept as data; v1 claims make no election."
        ),
    }


def load(apps, schema_editor):
    when = timezone.now()
    create(apps, "CriticalMineral", minerals(), when)
    create(apps, "TradeAgreement", agreements(), when)
    create(apps, "ApplicablePercentage", percentages(), when)
    create(apps, "CreditParameters", [credit()], when)
    create(apps, "FeocRule", [feoc()], when)


def unload(apps, schema_editor):
    for name in ("FeocRule", "CreditParameters", "ApplicablePercentage", "TradeAgreement", "CriticalMineral"):
        apps.get_model("agreements", name).objects.all().delete()
        apps.get_model("agreements", f"Historical{name}").objects.all().delete()
