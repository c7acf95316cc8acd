"""§45X material assistance rules, held as versioned data.

Each table is one section of the rule document the pure core reads
(`material_assistance.rule_data`): the component classes §45X names, the
MACR each must reach by the year it is sold (§7701(a)(52)(C)), the
prohibited foreign entities (§7701(a)(51)) by the dates they were so, the
date a taxable year's status is judged on, and the existing-contract
exception. Every row carries its source and a `confirmed` flag: figures
DOMAIN.md marks secondary (taken from compilations, not yet checked against
the statute) stay unconfirmed until someone checks them, and say so in the
document, as the agreements' unconfirmed facts do. Every change keeps a
history row (django-simple-history) and is a `rules` ledger entry
(`provenance.rule_changes`).

Prohibited foreign entities are not §30D's foreign entities of concern
(`agreements.FeocDesignation`): another statute, other tests, another date
of judgement. A designation names its entity by slug, as a FEOC
designation does: a Cairn organisation's slug when it is one, any other
slug otherwise (most designated entities never take part in Cairn).
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from cairn_core.payload import SLUG


class Sourced(models.Model):
    """Every fact names where it comes from, and whether it was checked."""

    source = models.CharField(
        max_length=500, help_text="Address or citation of the public source of this row (the statute where it can be)."
    )
    confirmed = models.BooleanField(
        default=False,
        help_text="Checked against the statute or the regulations. Secondary figures stay unconfirmed.",
    )
    notes = models.TextField(blank=True, help_text="Context: other sources, what is yet to be checked.")

    class Meta:
        abstract = True


# Names as the rule document spells them (the core reads them with the same patterns):
# a class or component name, and an entity's slug (an organisation slug of contract §3).
NAME = re.compile(r"\A[a-z][a-z0-9_]{1,62}\Z")
validate_name = RegexValidator(NAME, "Lowercase letters, digits and underscores, starting with a letter.")
validate_entity = RegexValidator(SLUG, "An organisation slug: lowercase letters, digits and hyphens.")


def validate_component_names(value: object) -> None:
    """A non-empty JSON list of distinct component names."""
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and NAME.match(item) for item in value)
    ):
        raise ValidationError("Give a list of component names (lowercase letters, digits and underscores).")
    if len(set(value)) != len(value):
        raise ValidationError("A component is named twice.")


class ComponentClass(Sourced):
    """An eligible component class of §45X(c) and the statements' `component` names in it.

    A batch is in the class when its `component` is one of `components`;
    an origin's output names no component and counts as "critical_mineral"
    (the core's name for it), which that class lists.
    """

    slug = models.SlugField(
        primary_key=True, max_length=40, validators=[validate_name], help_text='e.g. "battery_cell".'
    )
    components = models.JSONField(
        default=list,
        validators=[validate_component_names],
        help_text='The statements\' component names in this class, e.g. ["battery_cell"].',
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "component classes"

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        names = set(self.components or [])
        others = ComponentClass.objects.exclude(pk=self.pk)
        for other in others:
            shared = names & set(other.components)
            if shared:
                raise ValidationError({"components": f"{', '.join(sorted(shared))} already in {other.slug}."})


class MacrThreshold(Sourced):
    """The material assistance cost ratio a class's components must reach, by the day they are sold.

    `sold_from` and `sold_through` are inclusive; `sold_through` blank: from
    then on.
    """

    component_class = models.ForeignKey(ComponentClass, on_delete=models.PROTECT, related_name="thresholds")
    sold_from = models.DateField(help_text="First sale day (inclusive) of this threshold.")
    sold_through = models.DateField(null=True, blank=True, help_text="Last sale day (inclusive); blank: from then on.")
    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="The MACR required, in percent (at least this).",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["component_class_id", "sold_from"]
        constraints = [
            models.UniqueConstraint(fields=["component_class", "sold_from"], name="one_threshold_per_class_and_start"),
        ]
        verbose_name = "MACR threshold"

    def __str__(self) -> str:
        return f"{self.component_class_id} from {self.sold_from}: {self.percent}%"

    def clean(self) -> None:
        if None in (self.component_class_id, self.sold_from):
            return  # the field's own error says it is missing
        if self.sold_through is not None and self.sold_through < self.sold_from:
            raise ValidationError({"sold_through": "The period ends before it starts."})
        overlapping = MacrThreshold.objects.filter(component_class_id=self.component_class_id).exclude(pk=self.pk)
        overlapping = overlapping.filter(
            models.Q(sold_through__isnull=True) | models.Q(sold_through__gte=self.sold_from)
        )
        if self.sold_through is not None:
            overlapping = overlapping.filter(sold_from__lte=self.sold_through)
        if overlapping.exists():
            raise ValidationError("The period overlaps another threshold of this class.")


class PfeKind(models.TextChoices):
    SPECIFIED = "specified", "Specified foreign entity (§7701(a)(51)(B))"
    FOREIGN_INFLUENCED = "foreign_influenced", "Foreign-influenced entity (§7701(a)(51)(D))"


class PfeDesignation(Sourced):
    """An entity is a prohibited foreign entity from a day, on a stated basis.

    It applies to taxable year Y when `designated_from` <= the status date of
    Y and (`until` is blank or the status date < `until`): `until` is the
    first day it no longer holds (exclusive), as the rule document says.
    """

    entity = models.SlugField(
        max_length=63,
        validators=[validate_entity],
        help_text="The entity's slug: a Cairn organisation's, or any other.",
    )
    name = models.CharField(max_length=300, help_text="The entity's legal name.")
    kind = models.CharField(max_length=20, choices=PfeKind.choices)
    basis = models.CharField(
        max_length=300,
        help_text="For a specified entity, the list it is on; for a foreign-influenced one, the test that made it so.",
    )
    designated_from = models.DateField(help_text="First day (inclusive) the entity is a PFE.")
    until = models.DateField(null=True, blank=True, help_text="First day (exclusive) it no longer is; blank: open.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["entity", "designated_from"]
        verbose_name = "prohibited foreign entity designation"

    def __str__(self) -> str:
        return f"{self.entity} PFE ({self.kind}) from {self.designated_from}"

    def clean(self) -> None:
        if self.until is not None and self.designated_from is not None and self.until <= self.designated_from:
            raise ValidationError({"until": "A designation must end after it starts."})


class StatusDate(models.TextChoices):
    LAST_DAY_OF_TAXABLE_YEAR = "last_day_of_taxable_year", "The last day of the taxable year"


class StatusDateRule(Sourced):
    """The day of a taxable year on which an entity's PFE status is judged: one row."""

    slug = models.SlugField(primary_key=True, max_length=63, default="irc-45x-status-date")
    rule = models.CharField(max_length=40, choices=StatusDate.choices, default=StatusDate.LAST_DAY_OF_TAXABLE_YEAR)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "status-date rule"

    def __str__(self) -> str:
        return self.rule


class ExistingContractException(Sourced):
    """Components under a binding written contract finalised before
    `binding_before` and sold before `sold_before` are excepted: one row."""

    slug = models.SlugField(primary_key=True, max_length=63, default="irc-45x-existing-contract")
    binding_before = models.DateField(help_text="The contract was binding before this day (exclusive).")
    sold_before = models.DateField(help_text="The component was sold before this day (exclusive).")

    history = HistoricalRecords()

    class Meta:
        verbose_name = "existing-contract exception"

    def __str__(self) -> str:
        return f"binding before {self.binding_before}, sold before {self.sold_before}"
