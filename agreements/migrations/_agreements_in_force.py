"""Agreements count from their own entry into force; the credit's periods and citations.

The statute asks whether a country is one "with which the United States has
a free trade agreement in effect" (IRC §30D(e)(1)(A)(i)) where the mineral
was extracted or processed; 2023-04-18 starts the requirements (IRA
§13401(k)(3): vehicles placed in service after the proposed guidance of
2023-04-17), not the agreements. Migration 0002 made every comprehensive FTA
count from 2023-04-18; this one loads each agreement's signature and entry
into force (USTR's agreement pages), adds NAFTA for Canadian and Mexican
activities before USMCA, and loads the credit's start, the 50% value-added
test's last day, the components the regulations list and the citation of
each requirement. Every change writes a history row, so the rules version
changes and `load_ruleset(as_of=...)` still reconstructs the earlier rules.
"""

import datetime as dt
from django.utils import timezone

from agreements.migrations._domain_facts import record_history

REASON = "Entry-into-force dates and credit periods (migration agreements 0004)"

USTR = "https://ustr.gov/trade-agreements/free-trade-agreements/"
CAFTA_DR = USTR + "cafta-dr-dominican-republic-central-america-fta"
USMCA = USTR + "united-states-mexico-canada-agreement"
NAFTA = USTR + "north-american-free-trade-agreement-nafta"
TD_9995 = (
    "https://www.federalregister.gov/documents/2024/05/06/2024-09094/clean-vehicle-credits-under-sections-"
    "25e-and-30d-transfer-of-credits-critical-minerals-and-battery-components"
)

# partner: (signed, entered into force, USTR page). CAFTA-DR entered into
# force country by country.
IN_FORCE = {
    "AU": ("2004-05-18", "2005-01-01", USTR + "australian-fta"),
    "BH": ("2004-09-14", "2006-08-01", USTR + "bahrain-fta"),
    "CA": ("2018-11-30", "2020-07-01", USMCA),
    "CL": ("2003-06-06", "2004-01-01", USTR + "chile-fta"),
    "CO": ("2006-11-22", "2012-05-15", USTR + "colombia-fta"),
    "CR": ("2004-05-28", "2009-01-01", CAFTA_DR),
    "DO": ("2004-08-05", "2007-03-01", CAFTA_DR),
    "SV": ("2004-05-28", "2006-03-01", CAFTA_DR),
    "GT": ("2004-05-28", "2006-07-01", CAFTA_DR),
    "HN": ("2004-05-28", "2006-04-01", CAFTA_DR),
    "IL": ("1985-04-22", "1985-09-01", USTR + "israel-fta"),
    "JO": ("2000-10-24", "2001-12-17", USTR + "jordan-fta"),
    "KR": ("2007-06-30", "2012-03-15", USTR + "korus-fta"),
    "MX": ("2018-11-30", "2020-07-01", USMCA),
    "MA": ("2004-06-15", "2006-01-01", USTR + "morocco-fta"),
    "NI": ("2004-05-28", "2006-04-01", CAFTA_DR),
    "OM": ("2006-01-19", "2009-01-01", USTR + "oman-fta"),
    "PA": ("2007-06-28", "2012-10-31", USTR + "panama-tpa"),
    "PE": ("2006-04-12", "2009-02-01", USTR + "peru-tpa"),
    "SG": ("2003-05-06", "2004-01-01", USTR + "singapore-fta"),
}
# Not re-checked against the page when loaded: flagged for an administrator.
UNCONFIRMED = {"IL"}
NOTES = (
    "Signed {signed}, in force from {in_force} (USTR). The partner counts as a country with which the US "
    "has a free trade agreement in effect (IRC §30D(e)(1)(A)(i); listed in T.D. 9995 and CRS IN12145) for "
    "activities from the agreement's entry into force: the critical minerals requirement itself applies to "
    "vehicles placed in service from 2023-04-18. Covers every critical mineral."
)
NAFTA_NOTES = (
    "North American Free Trade Agreement: signed 1992-12-17, in force 1994-01-01, superseded by USMCA on "
    "2020-07-01 (so it counts through 2020-06-30). Loaded for Canadian and Mexican activities dated before "
    "USMCA. The earlier Canada-US FTA (1989-1993) is not loaded."
)

CITATIONS = {
    "critical_minerals": "IRC §30D(b)(2), (e)(1); 26 CFR §1.30D-3 (T.D. 9995)",
    "battery_components": "IRC §30D(b)(3), (e)(2); 26 CFR §1.30D-3 (T.D. 9995)",
    "foreign_entity_of_concern": "IRC §30D(d)(7); 26 CFR §1.30D-6 (T.D. 9995)",
    "final_assembly": "IRC §30D(d)(1)(G)",
    "credit_in_force": "IRC §30D(h), as amended by Public Law 119-21 §70502",
}
COMPONENTS = [
    "anode_electrode",
    "battery_cell",
    "battery_module",
    "cathode_electrode",
    "liquid_electrolyte",
    "separator",
    "solid_metal_electrode",
    "solid_state_electrolyte",
]
CREDIT_NOTES = (
    " Periods (by placed-in-service date): the credit as the Inflation Reduction Act amended it from "
    "2023-01-01; the two requirements from 2023-04-18 (before: not applicable); the 50% value-added test "
    "through 2026-12-31 (T.D. 9995; from 2027 the traced qualifying value test). Battery components: the "
    "regulations' list, which ends at the battery module (the pack is the battery, not a component of it)."
)


REACHABLE = (
    "Reached only by vehicles acquired by 2025-09-30 and placed in service from 2027 (PL 119-21 §70502 ends "
    "the credit by acquisition date). For them T.D. 9995 requires the traced qualifying value test, which "
    "Cairn does not compute: the critical minerals requirement is not assessed."
)


def day(text):
    return dt.date.fromisoformat(text)


def load(apps, schema_editor):
    when = timezone.now()
    agreement = apps.get_model("agreements", "TradeAgreement")
    changed = []
    for code, (signed, in_force, source) in IN_FORCE.items():
        row = agreement.objects.get(slug=f"us-{code.lower()}-fta")
        row.signed, row.entered_into_force, row.counts_from = day(signed), day(in_force), day(in_force)
        row.source = source
        row.notes = NOTES.format(signed=signed, in_force=in_force)
        row.unconfirmed = code in UNCONFIRMED
        if row.unconfirmed:
            row.notes += " UNCONFIRMED: the entry-into-force date, to be checked against the USTR page."
        row.save()
        changed.append(row)
    record_history(apps, "TradeAgreement", changed, when, history_type="~", reason=REASON)
    nafta = [
        agreement(
            slug=f"us-{code.lower()}-nafta",
            title=f"North American Free Trade Agreement (NAFTA): {name}",
            kind="fta",
            parties=["US", code],
            signed=day("1992-12-17"),
            entered_into_force=day("1994-01-01"),
            counts_from=day("1994-01-01"),
            ends=day("2020-06-30"),
            covers_all_minerals=True,
            source=NAFTA,
            notes=NAFTA_NOTES,
        )
        for code, name in (("CA", "Canada"), ("MX", "Mexico"))
    ]
    agreement.objects.bulk_create(nafta)
    record_history(apps, "TradeAgreement", nafta, when, reason=REASON)
    percentages = list(
        apps.get_model("agreements", "ApplicablePercentage").objects.filter(
            placed_in_service_from__gte=day("2027-01-01")
        )
    )
    for row in percentages:
        row.notes = REACHABLE
        row.save()
    record_history(apps, "ApplicablePercentage", percentages, when, history_type="~", reason=REASON)
    credit = apps.get_model("agreements", "CreditParameters").objects.get(slug="irc-30d")
    credit.credit_from = day("2023-01-01")
    credit.value_added_test_through = day("2026-12-31")
    credit.battery_components = COMPONENTS
    credit.citations = CITATIONS
    credit.regulations_source = TD_9995
    credit.notes += CREDIT_NOTES
    credit.save()
    record_history(apps, "CreditParameters", [credit], when, history_type="~", reason=REASON)


def unload(apps, schema_editor):
    """Back to migration 0002's rows (the history rows stay: history is never rewritten)."""
    agreement = apps.get_model("agreements", "TradeAgreement")
    agreement.objects.filter(slug__endswith="-nafta").delete()
    agreement.objects.filter(kind="fta").update(
        signed=None, entered_into_force=None, counts_from=day("2023-04-18"), unconfirmed=False
    )
