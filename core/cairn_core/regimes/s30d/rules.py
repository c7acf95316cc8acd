"""The clean vehicle credit's rules (IRC §30D), as pure functions of rule data.

A `RuleSet` is an immutable snapshot of the rule tables (trade agreements
with their events, the applicable percentages, the credit parameters, the
FEOC rule and the FEOC designations) together with a `version` fingerprint
of the data it was read from. Every function below answers one question
from a RuleSet and its arguments alone, so that:

* a verdict can record the rule version it was computed under,
* a "what if" can run on a derived RuleSet (`ruleset.with_termination`)
  without storing anything,
* the rules can be read and tested without a database.

Conventions (DOMAIN.md): dates are inclusive; percentages and amounts are
Decimals. The United States needs no agreement: `qualifying_agreements`
returns [] for "US" while `country_qualifies` answers True with reason
"domestic". An agreement makes its partners count for a mineral on a date
when the date is within [counts_from, ends], no termination or suspension
event is in effect, and it covers the mineral as amended on that date. A
termination "on D" means not in force from D.

An agreement counts from its own entry into force: the statute asks whether
the country is one "with which the United States has a free trade agreement
in effect" (IRC §30D(e)(1)(A)(i)) when the mineral was extracted or
processed, so Australian ore mined in 2019 counts (the US-Australia FTA is
in force from 2005-01-01). 2023-04-18 starts the requirements
(`requirements_apply`), not the agreements. Japan's agreement counts from
its signature (2023-03-28), on which it entered into force.

Which test and which rules apply to a vehicle depends on its
placed-in-service date: before `credit_from` (2023-01-01) the credit Cairn
computes did not exist; before `requirements_from` (2023-04-18) the two
requirements did not apply ("not applicable", not failed); after
`value_added_test_through` (2026-12-31) the 50% value-added test is no
longer allowed (T.D. 9995) and the critical minerals requirement is not
assessed (`minerals_method`).

This module imports nothing from Django. Reading a RuleSet from the database
is `agreements.snapshot.load_ruleset`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

DOMESTIC = "US"
KINDS = ("components", "minerals")


# --- the snapshot -----------------------------------------------------------


@dataclass(frozen=True)
class AgreementRef:
    """What a verdict cites: which agreement, and according to which source."""

    slug: str
    title: str
    kind: str
    source: str


@dataclass(frozen=True)
class AgreementEventRule:
    kind: str  # "amendment", "suspension" or "termination"
    effective_from: dt.date
    effective_to: dt.date | None = None
    minerals_added: frozenset[str] = frozenset()
    minerals_removed: frozenset[str] = frozenset()

    def stops_on(self, on: dt.date) -> bool:
        """A termination in effect, or a suspension covering `on`."""
        if self.kind == "termination":
            return self.effective_from <= on
        if self.kind == "suspension":
            return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)
        return False


@dataclass(frozen=True)
class AgreementRule:
    """One agreement with its events. `minerals` is ignored when `covers_all`."""

    slug: str
    title: str
    kind: str
    parties: frozenset[str]
    counts_from: dt.date
    source: str
    ends: dt.date | None = None
    covers_all: bool = False
    minerals: frozenset[str] = frozenset()
    events: tuple[AgreementEventRule, ...] = ()
    signed: dt.date | None = None
    entered_into_force: dt.date | None = None
    notes: str = ""

    @property
    def ref(self) -> AgreementRef:
        return AgreementRef(slug=self.slug, title=self.title, kind=self.kind, source=self.source)

    @property
    def partners(self) -> frozenset[str]:
        return self.parties - {DOMESTIC}

    def is_in_force(self, on: dt.date) -> bool:
        """Counts for the credit on `on`: started, not ended, not stopped by an event."""
        if on < self.counts_from or (self.ends is not None and on > self.ends):
            return False
        return not any(event.stops_on(on) for event in self.events)

    def covers(self, mineral: str, on: dt.date) -> bool:
        """Covers `mineral` as amended on `on` (amendments apply in date order)."""
        covered = None if self.covers_all else set(self.minerals)
        removed: set[str] = set()
        for event in sorted(self.events, key=lambda item: item.effective_from):
            if event.kind != "amendment" or event.effective_from > on:
                continue
            if covered is not None:
                covered |= event.minerals_added
                covered -= event.minerals_removed
            else:  # covers all minerals: only removals (and re-additions) matter
                removed |= event.minerals_removed
                removed -= event.minerals_added
        return mineral not in removed if covered is None else mineral in covered

    def counts_for(self, country: str, mineral: str, on: dt.date) -> bool:
        return country in self.partners and self.is_in_force(on) and self.covers(mineral, on)


@dataclass(frozen=True)
class PercentageRow:
    placed_in_service_from: dt.date
    placed_in_service_to: dt.date
    critical_minerals_pct: Decimal
    battery_components_pct: Decimal
    source: str = ""


# The components the regulations list (26 CFR §1.30D-2(b), T.D. 9995): the
# list ends at the battery module. The pack is the battery itself, not a
# component "contained in such battery" (IRC §30D(e)(2)).
REGULATION_COMPONENTS = frozenset(
    {
        "cathode_electrode",
        "anode_electrode",
        "solid_metal_electrode",
        "separator",
        "liquid_electrolyte",
        "solid_state_electrolyte",
        "battery_cell",
        "battery_module",
    }
)

# Requirement -> where the law states it. Data (CreditParameters.citations);
# these are the values loaded by the agreements migrations.
CITATIONS = (
    ("critical_minerals", "IRC §30D(b)(2), (e)(1); 26 CFR §1.30D-3 (T.D. 9995)"),
    ("battery_components", "IRC §30D(b)(3), (e)(2); 26 CFR §1.30D-3 (T.D. 9995)"),
    ("foreign_entity_of_concern", "IRC §30D(d)(7); 26 CFR §1.30D-6 (T.D. 9995)"),
    ("final_assembly", "IRC §30D(d)(1)(G)"),
    ("credit_in_force", "IRC §30D(h), as amended by Public Law 119-21 §70502"),
)

# US territories: not in the default North America list (see docs/examiners.md,
# "Decisions, with their reasons"); named so that a refusal says why.
US_TERRITORIES = frozenset({"PR", "GU", "VI", "AS", "MP", "UM"})


@dataclass(frozen=True)
class CreditTerms:
    """The credit's amounts and periods (dates inclusive).

    `credit_from`: first placed-in-service day of the credit as amended by
    the Inflation Reduction Act (None: no start). `value_added_test_through`:
    last placed-in-service day of the 50% value-added test (None: no end).
    `battery_components`: the component names whose value counts (None:
    every named component). `citations`: (requirement, citation) pairs.
    """

    critical_minerals_usd: Decimal
    battery_components_usd: Decimal
    requirements_from: dt.date
    acquired_through: dt.date | None
    north_america: frozenset[str]
    source: str = ""
    cutoff_source: str = ""
    credit_from: dt.date | None = None
    value_added_test_through: dt.date | None = None
    battery_components: frozenset[str] | None = None
    citations: tuple[tuple[str, str], ...] = CITATIONS
    regulations_source: str = ""


@dataclass(frozen=True)
class FeocTerms:
    covered_nations: frozenset[str]
    components_from: dt.date
    minerals_from: dt.date
    control_threshold_pct: Decimal = Decimal("25")
    impracticable_until: dt.date | None = None
    impracticable_items: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Designation:
    organization: str
    basis: str
    covered_nation: str
    effective_from: dt.date
    effective_to: dt.date | None = None
    source: str = ""

    def is_in_effect(self, on: dt.date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


@dataclass(frozen=True)
class RuleSet:
    """Everything the rules read, as of one version of the rule data."""

    agreements: tuple[AgreementRule, ...]
    percentages: tuple[PercentageRow, ...]
    credit: CreditTerms
    feoc: FeocTerms
    designations: tuple[Designation, ...] = ()
    minerals: frozenset[str] = frozenset()
    battery_minerals: frozenset[str] = frozenset()
    version: str = ""

    def agreement(self, slug: str) -> AgreementRule:
        for agreement in self.agreements:
            if agreement.slug == slug:
                return agreement
        raise KeyError(f"no agreement {slug!r}")

    def with_termination(self, slug: str, on: dt.date) -> RuleSet:
        """This RuleSet as if `slug` were terminated from `on` (not in force on `on`)."""
        ended = self.agreement(slug)
        event = AgreementEventRule(kind="termination", effective_from=on)
        changed = replace(ended, events=(*ended.events, event))
        agreements = tuple(changed if item.slug == slug else item for item in self.agreements)
        return replace(self, agreements=agreements, version=f"{self.version}+terminate:{slug}@{on}")


def fingerprint(parts: Iterable[object]) -> str:
    """A short, stable version string for the rule data described by `parts`."""
    digest = hashlib.sha256(repr(tuple(parts)).encode()).hexdigest()
    return f"rules-{digest[:16]}"


# --- trade agreements -------------------------------------------------------


@dataclass(frozen=True)
class Qualification:
    """Whether a country counts for a mineral on a date, and why."""

    qualifies: bool
    reason: str  # "domestic", "agreement" or "none"
    agreements: tuple[AgreementRef, ...] = ()

    def __bool__(self) -> bool:
        return self.qualifies


def qualifying_agreements(ruleset: RuleSet, country: str, mineral: str, on_date: dt.date) -> list[AgreementRef]:
    """Agreements that make `country` count for `mineral` on `on_date` ([] for the US)."""
    return [
        agreement.ref for agreement in ruleset.agreements if agreement.counts_for(country.upper(), mineral, on_date)
    ]


def country_qualifies(ruleset: RuleSet, country: str, mineral: str, on_date: dt.date) -> Qualification:
    """The US, or a country with an agreement in force covering `mineral` on `on_date`."""
    if country.upper() == DOMESTIC:
        return Qualification(qualifies=True, reason="domestic")
    refs = tuple(qualifying_agreements(ruleset, country, mineral, on_date))
    return Qualification(qualifies=bool(refs), reason="agreement" if refs else "none", agreements=refs)


def countries_relinked_by(before: RuleSet, after: RuleSet) -> frozenset[str]:
    """The countries whose entries' agreements can differ between two rule sets.

    `qualifying_agreements` reads only the agreements' parties, dates,
    minerals and events (`counts_for`), so an entry's links change only if
    an agreement whose partners include its country was added, removed or
    changed in one of those. The partners before and after are both named:
    a country dropped from an agreement loses its links too.
    """
    old = {agreement.slug: agreement for agreement in before.agreements}
    new = {agreement.slug: agreement for agreement in after.agreements}
    countries: set[str] = set()
    for slug in old.keys() | new.keys():
        was, now = old.get(slug), new.get(slug)
        if was is None or now is None or _what_counts(was) != _what_counts(now):
            countries |= (was.partners if was else frozenset()) | (now.partners if now else frozenset())
    return frozenset(countries)


def _what_counts(agreement: AgreementRule) -> tuple[object, ...]:
    """The fields `AgreementRule.counts_for` reads."""
    return (
        agreement.parties,
        agreement.counts_from,
        agreement.ends,
        agreement.covers_all,
        agreement.minerals,
        agreement.events,
    )


def next_review_date(next_review: dt.date | None, cadence_months: int | None, start: dt.date | None) -> dt.date | None:
    """The stated next review, else the first review one cadence after `start`."""
    if next_review is not None:
        return next_review
    if not cadence_months or start is None:
        return None
    return add_months(start, cadence_months)


def add_months(day: dt.date, months: int) -> dt.date:
    year, month_index = divmod(day.month - 1 + months, 12)
    year += day.year
    last_day = calendar.monthrange(year, month_index + 1)[1]
    return dt.date(year, month_index + 1, min(day.day, last_day))


# --- the credit -------------------------------------------------------------


@dataclass(frozen=True)
class CreditAmounts:
    critical_minerals: Decimal
    battery_components: Decimal

    @property
    def both(self) -> Decimal:
        return self.critical_minerals + self.battery_components


def required_percentages(ruleset: RuleSet, placed_in_service: dt.date) -> tuple[Decimal, Decimal] | None:
    """(critical minerals %, battery components %) on the date, or None if none applies."""
    row = schedule_row(ruleset, placed_in_service)
    return (row.critical_minerals_pct, row.battery_components_pct) if row else None


def requirements_apply(ruleset: RuleSet, placed_in_service: dt.date) -> bool:
    """The two requirements apply to vehicles placed in service from 2023-04-18."""
    return placed_in_service >= ruleset.credit.requirements_from


def schedule_row(ruleset: RuleSet, placed_in_service: dt.date) -> PercentageRow | None:
    """The row of the percentage schedule applied on the date (None before 2023-04-18)."""
    if not requirements_apply(ruleset, placed_in_service):
        return None
    for row in ruleset.percentages:
        if row.placed_in_service_from <= placed_in_service <= row.placed_in_service_to:
            return row
    return None


VALUE_ADDED_TEST = "value_added_50pct"
TRACED_VALUE_TEST = "traced_qualifying_value"
NOT_APPLICABLE = "not_applicable"


def minerals_method(ruleset: RuleSet, placed_in_service: dt.date) -> str:
    """The test T.D. 9995 prescribes for the critical minerals requirement.

    "not_applicable" before 2023-04-18; the 50% value-added test through
    2026-12-31; from 2027 the traced qualifying value test, which Cairn does
    not compute (the requirement is then "not assessed").
    """
    if not requirements_apply(ruleset, placed_in_service):
        return NOT_APPLICABLE
    through = ruleset.credit.value_added_test_through
    if through is not None and placed_in_service > through:
        return TRACED_VALUE_TEST
    return VALUE_ADDED_TEST


def in_credit_period(ruleset: RuleSet, placed_in_service: dt.date) -> bool:
    """Placed in service on or after the start of the credit Cairn computes (2023-01-01)."""
    start = ruleset.credit.credit_from
    return start is None or placed_in_service >= start


def counts_as_component(ruleset: RuleSet, component: str) -> bool:
    """Whether a named component's value counts in the battery components requirement."""
    listed = ruleset.credit.battery_components
    return bool(component) and (listed is None or component in listed)


def citation(ruleset: RuleSet, requirement: str) -> str:
    return dict(ruleset.credit.citations).get(requirement, "")


def credit_available(ruleset: RuleSet, acquired: dt.date) -> bool:
    """False for vehicles acquired after the credit's end (2025-09-30)."""
    cutoff = ruleset.credit.acquired_through
    return cutoff is None or acquired <= cutoff


def credit_amounts(ruleset: RuleSet) -> CreditAmounts:
    return CreditAmounts(
        critical_minerals=ruleset.credit.critical_minerals_usd,
        battery_components=ruleset.credit.battery_components_usd,
    )


def is_north_america(ruleset: RuleSet, country: str) -> bool:
    return country.upper() in ruleset.credit.north_america


# --- foreign entities of concern --------------------------------------------


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")


def feoc_applies(ruleset: RuleSet, kind: str, placed_in_service: dt.date) -> bool:
    """Components: placed in service after 2023-12-31; minerals: after 2024-12-31."""
    _check_kind(kind)
    start = ruleset.feoc.components_from if kind == "components" else ruleset.feoc.minerals_from
    return placed_in_service >= start


def feoc_reasons(
    ruleset: RuleSet,
    org_slug: str,
    org_country: str,
    activity_country: str,
    on_date: dt.date,
    kind: str,
) -> list[str]:
    """Why an organisation is a FEOC for an activity on a date ([] when it is not).

    `kind` names the activity ("components" or "minerals"); the test is the
    same for both in v1, where no claim elects the impracticable-to-trace
    transition (see `may_exclude_from_tracing`).
    """
    _check_kind(kind)
    covered = ruleset.feoc.covered_nations
    reasons = []
    if activity_country.upper() in covered:
        reasons.append(f"activity in covered nation {activity_country.upper()}")
    if org_country.upper() in covered:
        reasons.append(f"incorporated in covered nation {org_country.upper()}")
    for designation in ruleset.designations:
        if designation.organization == org_slug and designation.is_in_effect(on_date):
            reasons.append(
                f"designated ({designation.basis}, {designation.covered_nation}) from {designation.effective_from}"
            )
    return reasons


def is_feoc(
    ruleset: RuleSet,
    org_slug: str,
    org_country: str,
    activity_country: str,
    on_date: dt.date,
    kind: str,
) -> bool:
    return bool(feoc_reasons(ruleset, org_slug, org_country, activity_country, on_date, kind))


def may_exclude_from_tracing(ruleset: RuleSet, placed_in_service: dt.date, *, elected: bool) -> bool:
    """The impracticable-to-trace transition: only if elected, until 2026-12-31."""
    until = ruleset.feoc.impracticable_until
    return elected and until is not None and placed_in_service <= until
