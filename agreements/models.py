"""Trade agreements, credit rules and FEOC rules, held as versioned data.

Every rule table carries its source and keeps every change in a history
table (django-simple-history: who, when, before and after), so that the
rules that decided a verdict can be reconstructed later
(`agreements.snapshot.load_ruleset(as_of=...)`). Dates are inclusive, as in
DOMAIN.md: a row "from" a date applies on that date, a row "to" or "ends"
a date still applies on that date.

The rule logic itself lives in `cairn_core.regimes.s30d.rules`, as pure functions of a
snapshot; the model methods here delegate to it so that there is one
definition of "counts for a mineral on a date".

The rules know nothing of the ledger: which agreements made an entry's
site country count is the ledger's own derived data
(`provenance.models.EntryAgreementLink`, `provenance.linking`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django_countries.fields import CountryField
from simple_history.models import HistoricalRecords

from agreements.rule_rows import agreement_rule
from cairn_core.regimes.s30d import rules


class Sourced(models.Model):
    """Every fact names where it comes from; doubtful facts say so."""

    source = models.URLField(max_length=500, help_text="Address of the public source of this row.")
    notes = models.TextField(blank=True, help_text="Context, and any unconfirmed fact, named as such.")
    unconfirmed = models.BooleanField(default=False, help_text="Some fact in this row is unconfirmed: see the notes.")

    class Meta:
        abstract = True


# --- Minerals -------------------------------------------------------------


class CriticalMineral(Sourced):
    """One of the statute's applicable critical minerals (IRC §45X(c)(6))."""

    slug = models.SlugField(primary_key=True, max_length=40, help_text='Lowercase name, e.g. "lithium".')
    name = models.CharField(max_length=80)
    battery_relevant = models.BooleanField(default=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


def validate_mineral_slugs(value: object) -> None:
    """A JSON list of known critical mineral slugs."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Give a list of critical mineral slugs.")
    unknown = set(value) - set(CriticalMineral.objects.values_list("slug", flat=True))
    if unknown:
        raise ValidationError(f"Unknown critical minerals: {', '.join(sorted(unknown))}.")


# --- Trade agreements -----------------------------------------------------


class AgreementKind(models.TextChoices):
    FTA = "fta", "Comprehensive free trade agreement"
    CMA = "cma", "Critical minerals agreement"


class TradeAgreementQuerySet(models.QuerySet["TradeAgreement"]):
    def in_force(self, *, on: dt.date) -> TradeAgreementQuerySet:
        """Agreements that count for the credit on `on` (any mineral)."""
        stopped = AgreementEvent.objects.stopping(on=on).values("agreement_id")
        return self.filter(counts_from__lte=on).exclude(ends__lt=on).exclude(slug__in=stopped)

    def with_party(self, country: str) -> TradeAgreementQuerySet:
        # parties is a comma-separated list of 2-letter codes, so a 2-letter
        # substring can only match a whole code.
        return self.filter(parties__contains=country.upper()[:2])


class TradeAgreement(Sourced):
    """An agreement that makes its partner countries count for the minerals test.

    `counts_from` is the first day the agreement makes its partners count
    for the critical minerals requirement: its entry into force, since the
    statute asks whether an agreement was "in effect" when the mineral was
    extracted or processed (IRC §30D(e)(1)(A)(i)). 2023-04-18 starts the
    requirements, not the agreements.
    """

    slug = models.SlugField(primary_key=True, max_length=63, help_text='e.g. "us-au-fta".')
    title = models.CharField(max_length=300)
    kind = models.CharField(max_length=8, choices=AgreementKind.choices)
    parties = CountryField(multiple=True, help_text="All parties, the United States included.")
    signed = models.DateField(null=True, blank=True)
    entered_into_force = models.DateField(
        null=True,
        blank=True,
        help_text="The agreement's own entry into force; blank if the sources give none.",
    )
    counts_from = models.DateField(
        help_text="First day (inclusive) the partners count as FTA countries for the credit."
    )
    ends = models.DateField(null=True, blank=True, help_text="Last day in force (inclusive); blank: open-ended.")
    covers_all_minerals = models.BooleanField(
        default=False, help_text="A comprehensive FTA covers every critical mineral."
    )
    covered_minerals = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_mineral_slugs],
        help_text="Critical mineral slugs covered when not all are (before any amendment).",
    )
    review_cadence_months = models.PositiveSmallIntegerField(null=True, blank=True)
    next_review = models.DateField(
        null=True, blank=True, help_text="Blank: computed from the cadence and the signature date."
    )

    history = HistoricalRecords()
    objects = TradeAgreementQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        if self.ends and self.ends < self.counts_from:
            raise ValidationError({"ends": "An agreement cannot end before it counts."})
        if self.entered_into_force and self.counts_from < self.entered_into_force:
            raise ValidationError({"counts_from": "An agreement cannot count before it is in force."})
        if "US" not in [str(code) for code in self.parties]:
            raise ValidationError({"parties": "The United States is a party to every agreement."})

    @property
    def partners(self) -> list[str]:
        return [str(code) for code in self.parties if str(code) != "US"]

    def as_rule(self) -> rules.AgreementRule:
        """This agreement and its events, as the pure rules see them."""
        return agreement_rule(self, self.events.all())

    def is_in_force(self, on: dt.date) -> bool:
        return self.as_rule().is_in_force(on)

    def covers(self, mineral: str, on: dt.date | None = None) -> bool:
        """Whether the agreement covers `mineral` (as amended on `on`, default today)."""
        return self.as_rule().covers(mineral, on or timezone.localdate())

    def review_date(self) -> dt.date | None:
        return rules.next_review_date(
            self.next_review, self.review_cadence_months, self.signed or self.entered_into_force
        )

    def review_due(self, today: dt.date) -> bool:
        due = self.review_date()
        return due is not None and due <= today


class EventKind(models.TextChoices):
    AMENDMENT = "amendment"
    SUSPENSION = "suspension"
    TERMINATION = "termination"


class AgreementEventQuerySet(models.QuerySet["AgreementEvent"]):
    def stopping(self, *, on: dt.date) -> AgreementEventQuerySet:
        """Terminations in effect on `on`, and suspensions covering it."""
        terminated = models.Q(kind=EventKind.TERMINATION, effective_from__lte=on)
        suspended = models.Q(kind=EventKind.SUSPENSION, effective_from__lte=on) & (
            models.Q(effective_to__isnull=True) | models.Q(effective_to__gte=on)
        )
        return self.filter(terminated | suspended)


class AgreementEvent(Sourced):
    """Something that changed an agreement from a date.

    amendment: `minerals_added` / `minerals_removed` apply from `effective_from`;
    suspension: no effect from `effective_from` to `effective_to` (inclusive,
    blank: until further notice); termination: no effect from `effective_from`.
    """

    agreement = models.ForeignKey(TradeAgreement, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="Suspensions only: last day suspended.")
    minerals_added = models.JSONField(default=list, blank=True, validators=[validate_mineral_slugs])
    minerals_removed = models.JSONField(default=list, blank=True, validators=[validate_mineral_slugs])

    history = HistoricalRecords()
    objects = AgreementEventQuerySet.as_manager()

    class Meta:
        ordering = ["agreement_id", "effective_from", "id"]

    def __str__(self) -> str:
        return f"{self.agreement_id} {self.kind} {self.effective_from}"

    def clean(self) -> None:
        if self.effective_to and self.kind != EventKind.SUSPENSION:
            raise ValidationError({"effective_to": "Only a suspension has an end date."})
        if self.effective_to and self.effective_to < self.effective_from:
            raise ValidationError({"effective_to": "A suspension cannot end before it starts."})
        changes = self.minerals_added or self.minerals_removed
        if changes and self.kind != EventKind.AMENDMENT:
            raise ValidationError("Only an amendment changes the covered minerals.")


# --- The credit -------------------------------------------------------------


class ApplicablePercentage(Sourced):
    """Both requirements' percentages for vehicles placed in service in a period."""

    placed_in_service_from = models.DateField(unique=True)
    placed_in_service_to = models.DateField()
    critical_minerals_pct = models.DecimalField(max_digits=5, decimal_places=2)
    battery_components_pct = models.DecimalField(max_digits=5, decimal_places=2)

    history = HistoricalRecords()

    class Meta:
        ordering = ["placed_in_service_from"]

    def __str__(self) -> str:
        return f"{self.placed_in_service_from}..{self.placed_in_service_to}"

    def clean(self) -> None:
        if self.placed_in_service_to < self.placed_in_service_from:
            raise ValidationError({"placed_in_service_to": "The period ends before it starts."})
        overlapping = ApplicablePercentage.objects.exclude(pk=self.pk).filter(
            placed_in_service_from__lte=self.placed_in_service_to,
            placed_in_service_to__gte=self.placed_in_service_from,
        )
        if overlapping.exists():
            raise ValidationError("The period overlaps another row.")


class CreditParameters(Sourced):
    """The credit's amounts, start, end and North America: one row."""

    slug = models.SlugField(primary_key=True, max_length=63, default="irc-30d")
    critical_minerals_usd = models.DecimalField(default=Decimal("3750"), max_digits=12, decimal_places=2)
    battery_components_usd = models.DecimalField(default=Decimal("3750"), max_digits=12, decimal_places=2)
    requirements_from = models.DateField(help_text="First placed-in-service day (inclusive) both requirements apply.")
    acquired_through = models.DateField(
        null=True, blank=True, help_text="Last acquisition day (inclusive) that earns the credit."
    )
    cutoff_source = models.URLField(max_length=500, blank=True, help_text="Source of the end date.")
    north_america = CountryField(multiple=True)
    credit_from = models.DateField(
        null=True,
        blank=True,
        help_text="First placed-in-service day (inclusive) of the credit as the Inflation Reduction Act amended it.",
    )
    value_added_test_through = models.DateField(
        null=True,
        blank=True,
        help_text="Last placed-in-service day (inclusive) of the 50% value-added test (T.D. 9995).",
    )
    battery_components = models.JSONField(
        null=True,
        blank=True,
        help_text="Component names whose value counts (the regulations' list); blank: every named component.",
    )
    citations = models.JSONField(
        default=dict, blank=True, help_text="Requirement code -> statutory and regulatory citation."
    )
    regulations_source = models.URLField(
        max_length=500, blank=True, help_text="The final regulations (T.D. 9995) in the Federal Register."
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "credit parameters"

    def __str__(self) -> str:
        return self.slug


class FeocRule(Sourced):
    """Foreign entity of concern restrictions: one row."""

    slug = models.SlugField(primary_key=True, max_length=63, default="irc-30d-feoc")
    covered_nations = CountryField(multiple=True)
    components_from = models.DateField(
        help_text="First placed-in-service day (inclusive) of the components restriction."
    )
    minerals_from = models.DateField(
        help_text="First placed-in-service day (inclusive) of the critical minerals restriction."
    )
    control_threshold_pct = models.DecimalField(default=Decimal("25"), max_digits=5, decimal_places=2)
    impracticable_until = models.DateField(
        null=True,
        blank=True,
        help_text="Last placed-in-service day of the impracticable-to-trace election.",
    )
    impracticable_items = models.JSONField(
        default=list, blank=True, help_text="What the election may exclude from FEOC tracing."
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = "FEOC rule"

    def __str__(self) -> str:
        return self.slug


class DesignationBasis(models.TextChoices):
    JURISDICTION = "jurisdiction", "Incorporated, headquartered or active in a covered nation"
    CONTROL_25PCT = "control_25pct", "A covered-nation government holds 25% or more"
    LISTING = "listing", "Listed by the US government"


class FeocDesignationQuerySet(models.QuerySet["FeocDesignation"]):
    def in_effect(self, *, on: dt.date) -> FeocDesignationQuerySet:
        return self.filter(effective_from__lte=on).exclude(effective_to__lt=on)


class FeocDesignation(Sourced):
    """An entity is a FEOC from a date, on a stated basis.

    The entity is named by slug: the slug of a Cairn organisation when it is
    one, otherwise any slug (a designated entity need not take part in
    Cairn). The rules compare it with the slug of the organisation that
    signed a statement.
    """

    organization = models.SlugField(
        max_length=63,
        db_column="organization_id",
        help_text="The designated entity's slug: a Cairn organisation's, or any other entity's.",
    )
    basis = models.CharField(max_length=16, choices=DesignationBasis.choices)
    covered_nation = CountryField()
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="Last day (inclusive); blank: open.")

    history = HistoricalRecords()
    objects = FeocDesignationQuerySet.as_manager()

    class Meta:
        ordering = ["organization", "effective_from"]
        verbose_name = "FEOC designation"

    def __str__(self) -> str:
        return f"{self.organization} FEOC from {self.effective_from}"

    def clean(self) -> None:
        if self.effective_to and self.effective_to < self.effective_from:
            raise ValidationError({"effective_to": "A designation cannot end before it starts."})

    def is_in_effect(self, on: dt.date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)
