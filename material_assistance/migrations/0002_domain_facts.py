# The §45X rule data of DOMAIN.md, each row with its source and whether it is
# confirmed: the component classes §45X names, the MACR thresholds by class
# and year sold (§7701(a)(52)(C), secondary: unconfirmed), the status date
# (secondary compilations: unconfirmed) and the existing-contract exception.
# No prohibited foreign entity is designated here: designations are added in
# the admin, each with its list or test and its source. Each row gets its
# first history record, so that `rule_data.document(as_of=...)` reads the
# rules from the day they were loaded. The data is written out here, not
# imported, so that this migration means the same thing forever. After it,
# `manage.py record_rule_change` logs the data as a `rules` entry (a new
# ledger logs it with its first entry).

import datetime as dt
from decimal import Decimal

from django.db import migrations
from django.utils import timezone

REASON = "Loaded from DOMAIN.md (migration material_assistance 0002)"

STATUTE_45X = "26 U.S.C. §45X, https://www.law.cornell.edu/uscode/text/26/45X"
FINAL_RULE = "T.D. 10010, 89 FR 85798 (2024-10-28), https://regulations.justia.com/regulations/fedreg/2024/10/28/2024-24840.html"
THRESHOLDS_SOURCE = "26 U.S.C. §7701(a)(52)(C), https://www.law.cornell.edu/uscode/text/26/7701"
STATUS_DATE_SOURCE = "https://partnershiptaxgeek.com/2026/05/"
STATUS_DATE_NOTES = (
    "Also https://www.nixonpeabody.com/insights/alerts/2026/03/20/foreign-entities-of-concern-the-material-"
    "assistance-rule-and-irs-notice-2026-15. The first taxable year after enactment is judged on its first day "
    "instead: not yet a rule of its own here. Secondary: check against §7701(a)(51)."
)
EXISTING_CONTRACT_NOTES = (
    "Also https://www.millerchevalier.com/publication/notice-2026-15-provides-guidance-evaluating-material-"
    "assistance-section-45y-45x-and-48e."
)
THRESHOLDS_NOTES = "Secondary (DOMAIN.md): taken from compilations; check against §7701(a)(52)(C)."

COMPONENT_CLASSES = [
    ("battery_cell", ["battery_cell"], "Battery cells, §45X(c)(5)(B)(i)."),
    ("battery_module", ["battery_module"], "Battery modules, §45X(c)(5)(B)(ii)."),
    (
        "electrode_active_material",
        ["anode_electrode", "cathode_electrode"],
        "Electrode active materials, §45X(c)(5)(B)(iii).",
    ),
    (
        "critical_mineral",
        ["critical_mineral"],
        "Applicable critical minerals, §45X(c)(6): an origin's output, which names no component, counts as "
        '"critical_mineral".',
    ),
]
BATTERY_CLASSES = ["battery_cell", "battery_module", "electrode_active_material"]
# (first day sold, last day sold or None, percent): §7701(a)(52)(C) as DOMAIN.md compiles it.
BATTERY_THRESHOLDS = [
    ("2026-01-01", "2026-12-31", "60"),
    ("2027-01-01", "2027-12-31", "65"),
    ("2028-01-01", "2028-12-31", "70"),
    ("2029-01-01", "2029-12-31", "80"),
    ("2030-01-01", None, "85"),
]
MINERAL_THRESHOLDS = [
    ("2026-01-01", "2029-12-31", "0"),
    ("2030-01-01", "2030-12-31", "25"),
    ("2031-01-01", "2031-12-31", "30"),
    ("2032-01-01", "2032-12-31", "40"),
    ("2033-01-01", None, "50"),
]


def day(text):
    return dt.date.fromisoformat(text) if text else None


def create(apps, model_name, rows, when):
    """Create the rows and their first history records ("+"), as the admin would have."""
    model = apps.get_model("material_assistance", model_name)
    historical = apps.get_model("material_assistance", f"Historical{model_name}")
    objects = model.objects.bulk_create(model(**row) for row in rows)
    historical.objects.bulk_create(
        historical(
            **{field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields},
            history_date=when,
            history_type="+",
            history_change_reason=REASON,
        )
        for obj in objects
    )


def thresholds():
    rows = []
    for component_class in BATTERY_CLASSES:
        rows += [(component_class, *row) for row in BATTERY_THRESHOLDS]
    rows += [("critical_mineral", *row) for row in MINERAL_THRESHOLDS]
    return [
        {
            "component_class_id": component_class,
            "sold_from": day(start),
            "sold_through": day(end),
            "percent": Decimal(percent),
            "source": THRESHOLDS_SOURCE,
            "confirmed": False,
            "notes": THRESHOLDS_NOTES,
        }
        for component_class, start, end, percent in rows
    ]


def load(apps, schema_editor):
    when = timezone.now()
    classes = [
        {"slug": slug, "components": components, "source": STATUTE_45X, "confirmed": True, "notes": f"{notes} {FINAL_RULE}."}
        for slug, components, notes in COMPONENT_CLASSES
    ]
    create(apps, "ComponentClass", classes, when)
    create(apps, "MacrThreshold", thresholds(), when)
    status_date = {
        "rule": "last_day_of_taxable_year",
        "source": STATUS_DATE_SOURCE,
        "confirmed": False,
        "notes": STATUS_DATE_NOTES,
    }
    create(apps, "StatusDateRule", [status_date], when)
    existing = {
        "binding_before": day("2025-06-16"),
        "sold_before": day("2027-01-01"),
        "source": STATUTE_45X,
        "confirmed": True,
        "notes": EXISTING_CONTRACT_NOTES,
    }
    create(apps, "ExistingContractException", [existing], when)


def unload(apps, schema_editor):
    for name in ("ExistingContractException", "StatusDateRule", "MacrThreshold", "ComponentClass"):
        apps.get_model("material_assistance", name).objects.all().delete()
        apps.get_model("material_assistance", f"Historical{name}").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("material_assistance", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
