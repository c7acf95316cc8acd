"""What a claim's supply chain earns under the rules (Cairn DOMAIN.md, "The
computation Cairn performs for a claim", steps 2-4).

Input: the claim's upstream DAG as plain data (`SupplyChain`: every batch
with the activity that created it, the transforms as `cairn_core.dag.Graph`
and the attribution factors f), and a `rules.RuleSet`. Output: an
`Assessment` naming each requirement's figures. Pure Decimal arithmetic, no
float and no Django import: an auditor can run it over an export.

**Mineral lineages.** Each origin batch O times each mineral m it contains
is a lineage. Its value is

* its share of O's value added: value_added(O) x f(O) x kg_m(O) / kg(O),
  where kg(O) is the mass of all minerals O contains. An origin's value is
  split among its minerals in proportion to their mass, the one measure
  every origin statement carries (no prices are signed);
* plus its share of every *processing* step S it flows through. S's value
  is the sum of value_added(o) x f(o) over its outputs o, shared among the
  lineages flowing into S in proportion to their attributed mass of
  critical minerals: kg_m(O) x H(O, S), where H(O, S) is the fraction of O
  that S consumed. (The part of S's output that ends in the vehicle is the
  same for every lineage in S, so H gives the same shares as the attributed
  mass.) A processing step with no critical mineral flowing in adds no
  mineral value.

"split" steps move material and add no mineral value; "manufacturing" and
"assembly" steps make battery components, whose value is not mineral value
(processing ends at the constituent materials).

**The 50% test** per lineage: extraction value in qualifying countries is at
least half of its extraction value, or processing value in qualifying
countries is at least half of its processing value (each needs a value
above zero), or it was recycled in North America. A country qualifies for
mineral m on the activity's date by `rules.country_qualifies`. A recycling
origin's value counts in the lineage's value but not in the extraction
test: recycling is not extraction. A qualifying lineage counts at its whole
value. Content % = value of qualifying lineages / value of all lineages.

**Components.** value_added(o) x f(o) of every manufacturing or assembly
output o that names a component; North American when the step's site is in
US, CA or MX. Only the components the regulations list count
(`rules.counts_as_component`): a battery pack's assembly is listed but does
not count, the pack being the battery itself. Without any component value
the share is 0 and not met.

**Periods.** Before 2023-04-18 neither requirement applies: each is met by
default, with no percentage (`requirements_apply`). From 2027 the 50% test
is not allowed and the critical minerals requirement is not met, for want
of the traced qualifying value test (`minerals_method`).

**Splits** move material: a value declared on a split's output is not mineral
or component value, and is reported (`Assessment.split_values`).

**FEOC.** When `rules.feoc_applies` for the placed-in-service date, every
manufacturing or assembly step (components), and every extraction,
recycling or processing step (minerals), is tested with `rules.feoc_reasons`
for its issuer, the issuer's country, the site country and the date the
activity occurred. Splits are neither.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext

from cairn_core.dag import Graph, Step
from cairn_core.regimes.s30d import rules

ZERO = Decimal(0)
HUNDRED = Decimal(100)
ORIGIN_KINDS = ("extraction", "recycling")
PROCESSING = "processing"
COMPONENT_KINDS = ("manufacturing", "assembly")


def pct_str(value: Decimal) -> str:
    """A percentage for display: half-up to two places ("72.50")."""
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def pct_shown(share: Share, required: Decimal | None) -> str:
    """`share` as a percentage for display, never rounded across `required`.

    Two places, half-up, unless that would show the figure on the other side
    of the required percentage than the exact comparison (`Share.at_least`)
    puts it: then as many more places as it takes. 39.995% against 40% shows
    "39.995", never "40.00"; 72.495% against 50% shows "72.50".
    """
    if required is None or not share.whole:
        return pct_str(share.pct)
    met = share.at_least(required)
    with localcontext() as context:
        context.prec = 80
        exact = share.part * HUNDRED / share.whole
        for places in range(2, 60):
            shown = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
            if (shown >= required) == met:
                break
        return str(shown)


# --- the input --------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    """The entry that created a batch: what was done, where, by whom, when."""

    index: int
    kind: str  # extraction, recycling, processing, manufacturing, assembly, split
    country: str
    issuer: str
    issuer_country: str
    occurred_on: dt.date


@dataclass(frozen=True)
class BatchFacts:
    id: str
    activity: Activity
    value_added_usd: Decimal
    minerals: Mapping[str, Decimal] = field(default_factory=dict)  # origin batches only
    component: str = ""


@dataclass(frozen=True)
class SupplyChain:
    """A claim's upstream DAG: its batches, transforms and attribution factors."""

    batches: Mapping[str, BatchFacts]
    graph: Graph
    factors: Mapping[str, Decimal]

    def f(self, batch: str) -> Decimal:
        return self.factors.get(batch, ZERO)

    def steps(self) -> list[Step]:
        """Each transform once, oldest first."""
        return list(self._steps)

    @functools.cached_property
    def _steps(self) -> tuple[Step, ...]:
        unique = {step.index: step for step in self.graph.made_by.values()}
        return tuple(unique[index] for index in sorted(unique))

    @functools.cached_property
    def _activities(self) -> dict[int, Activity]:
        return {step.index: self.batches[output].activity for output, step in self.graph.made_by.items()}

    def activity_of(self, step: Step) -> Activity:
        return self._activities[step.index]

    def taken(self, step: Step) -> dict[str, Decimal]:
        """The fraction of each input batch the step consumed: q_i / quantity(i)."""
        return self._taken[step.index]

    @functools.cached_property
    def _taken(self) -> dict[int, dict[str, Decimal]]:
        quantities = self.graph.quantities
        return {step.index: {batch: q / quantities[batch] for batch, q in step.inputs.items()} for step in self._steps}

    def value_of(self, step: Step) -> Decimal:
        """The step's value added that ends in the vehicle: sum of value x f."""
        return sum(
            (self.batches[o].value_added_usd * self.f(o) for o in step.outputs if o in self.batches),
            ZERO,
        )

    def origins(self) -> list[BatchFacts]:
        return [
            facts
            for batch_id, facts in sorted(self.batches.items())
            if batch_id not in self.graph.made_by and facts.activity.kind in ORIGIN_KINDS
        ]


# --- a fraction compared with a percentage -------------------------------------


@dataclass(frozen=True)
class Share:
    part: Decimal
    whole: Decimal

    @property
    def pct(self) -> Decimal:
        return self.part * HUNDRED / self.whole if self.whole else ZERO

    def at_least(self, required_pct: Decimal) -> bool:
        """part / whole >= required %, compared without dividing."""
        return self.whole > 0 and self.part * HUNDRED >= required_pct * self.whole


# --- mineral lineages ---------------------------------------------------------


@dataclass(frozen=True)
class StageValue:
    """The value one activity added to one lineage, and whether it was in a
    qualifying country for the lineage's mineral on the activity's date."""

    index: int
    kind: str
    country: str
    value_usd: Decimal
    qualifies: bool
    agreements: tuple[str, ...] = ()


class Qualifier:
    """`rules.country_qualifies` as a StageValue, memoised: a DAG of a thousand
    steps asks about a handful of (country, mineral, date)."""

    def __init__(self, ruleset: rules.RuleSet) -> None:
        self.ruleset = ruleset
        self.answers: dict[tuple[str, str, dt.date], tuple[bool, tuple[str, ...]]] = {}

    def __call__(self, country: str, mineral: str, on: dt.date) -> tuple[bool, tuple[str, ...]]:
        key = (country, mineral, on)
        if key not in self.answers:
            found = rules.country_qualifies(self.ruleset, country, mineral, on)
            self.answers[key] = (found.qualifies, tuple(ref.slug for ref in found.agreements))
        return self.answers[key]

    def stage(self, activity: Activity, mineral: str, value: Decimal) -> StageValue:
        qualifies, agreements = self(activity.country, mineral, activity.occurred_on)
        return StageValue(activity.index, activity.kind, activity.country, value, qualifies, agreements)


@dataclass(frozen=True)
class Lineage:
    origin: str
    mineral: str
    mass_kg: Decimal  # attributed to the vehicle
    source: StageValue  # the extraction or recycling
    processing_share: Share  # processing value in qualifying countries / all of it
    processing_agreements: frozenset[str]  # those that made its processing countries count
    recycled_in_north_america: bool
    origin_kg: Decimal = ZERO  # of the mineral in the whole origin batch
    # Lists the processing steps on demand (`processing`): not needed for the verdict.
    detail: ProcessingDetail | None = field(default=None, repr=False, compare=False)

    @property
    def processing(self) -> tuple[StageValue, ...]:
        """The value each processing step added to this lineage, step by step."""
        if self.detail is None:
            return ()
        return tuple(
            self.detail.qualifier.stage(activity, self.mineral, self.origin_kg * rate)
            for activity, rate in self.detail.rates(self.origin)
        )

    @property
    def extraction_share(self) -> Share:
        if self.source.kind != "extraction":
            return Share(ZERO, ZERO)
        qualifying = self.source.value_usd if self.source.qualifies else ZERO
        return Share(qualifying, self.source.value_usd)

    @property
    def value_usd(self) -> Decimal:
        return self.source.value_usd + self.processing_share.whole

    @property
    def qualifies(self) -> bool:
        half = Decimal(50)
        return (
            self.extraction_share.at_least(half)
            or self.processing_share.at_least(half)
            or self.recycled_in_north_america
        )

    @property
    def agreements(self) -> set[str]:
        """The agreements the lineage relies on: those of each test it passes."""
        relied: set[str] = set()
        if self.extraction_share.at_least(Decimal(50)):
            relied.update(self.source.agreements)
        if self.processing_share.at_least(Decimal(50)):
            relied.update(self.processing_agreements)
        return relied


def mineral_lineages(chain: SupplyChain, ruleset: rules.RuleSet) -> list[Lineage]:
    """Every (origin, mineral) lineage in the vehicle, with its stage values."""
    qualifier = Qualifier(ruleset)
    detail = ProcessingDetail(chain, qualifier)
    rates = place_rates(chain)
    lineages = []
    for origin in chain.origins():
        f_origin = chain.f(origin.id)
        total_kg = sum(origin.minerals.values(), ZERO)
        if not f_origin or not total_kg:
            continue
        places = rates.get(origin.id, {})
        for mineral, kg in sorted(origin.minerals.items()):
            value = origin.value_added_usd * f_origin * kg / total_kg
            share, agreements = _processing_share(places, mineral, kg, qualifier)
            lineages.append(
                Lineage(
                    origin=origin.id,
                    mineral=mineral,
                    mass_kg=kg * f_origin,
                    source=qualifier.stage(origin.activity, mineral, value),
                    processing_share=share,
                    processing_agreements=agreements,
                    recycled_in_north_america=origin.activity.kind == "recycling"
                    and rules.is_north_america(ruleset, origin.activity.country),
                    origin_kg=kg,
                    detail=detail,
                )
            )
    return lineages


Place = tuple[str, dt.date]  # (country, date): all that qualification depends on


def _processing_share(
    places: Mapping[Place, Decimal], mineral: str, kg: Decimal, qualifier: Qualifier
) -> tuple[Share, frozenset[str]]:
    """A lineage's processing value, in qualifying places and in all, and the
    agreements that made those places count."""
    total = qualifying = ZERO
    agreements: set[str] = set()
    for (country, on), rate in places.items():
        total += rate
        qualifies, refs = qualifier(country, mineral, on)
        if qualifies and rate:
            qualifying += rate
            agreements.update(refs)
    return Share(kg * qualifying, kg * total), frozenset(agreements)


def place_rates(chain: SupplyChain) -> dict[str, dict[Place, Decimal]]:
    """Per origin batch O and place p: the processing value at p per kg of O's minerals.

    The same sums as `processing_rates` grouped by place, computed backwards
    so that the work grows with the edges, not with origins x steps: W(b)[p]
    is the value at p that one kg of minerals in batch b earns downstream,

        W(i)[p] += q_i / quantity(i) x (rate of S if S is processing at p
                                        + sum over outputs o of Q_o / Q x W(o)[p])

    over the steps S consuming i, newest first; the rate of S is its value
    over the mineral mass flowing in (a forward pass). W(O) is O's answer.
    """
    steps = chain.steps()
    per_kg = _step_rates(chain, steps)
    weights: dict[str, dict[Place, Decimal]] = {}
    for step in reversed(steps):
        gain: dict[Place, Decimal] = {}
        for output in step.outputs:
            if output in weights:
                share = step.share_of(output)
                for place, weight in weights[output].items():
                    gain[place] = gain.get(place, ZERO) + share * weight
        if step.index in per_kg:
            activity = chain.activity_of(step)
            place = (activity.country, activity.occurred_on)
            gain[place] = gain.get(place, ZERO) + per_kg[step.index]
        if not gain:
            continue
        for batch, taken in chain.taken(step).items():
            target = weights.setdefault(batch, {})
            for place, weight in gain.items():
                target[place] = target.get(place, ZERO) + taken * weight
    return {origin.id: weights.get(origin.id, {}) for origin in chain.origins()}


def _step_rates(chain: SupplyChain, steps: list[Step]) -> dict[int, Decimal]:
    """Each processing step's value per kg of critical minerals flowing in.

    The mass of minerals in each batch flows forward like the content below,
    as one number instead of one per origin.
    """
    feeding = _feeding_processing(chain, steps)
    mass = {origin.id: sum(origin.minerals.values(), ZERO) for origin in chain.origins()}
    rates = {}
    for step in steps:
        is_processing = chain.activity_of(step).kind == PROCESSING
        if not is_processing and feeding.isdisjoint(step.outputs):
            continue
        inflow = sum((mass.get(batch, ZERO) * taken for batch, taken in chain.taken(step).items()), ZERO)
        value = chain.value_of(step) if is_processing else ZERO
        if value and inflow:
            rates[step.index] = value / inflow
        for output in feeding.intersection(step.outputs):
            mass[output] = inflow * step.share_of(output)
    return rates


class ProcessingDetail:
    """Each lineage's processing steps one by one (for display), computed on first use."""

    def __init__(self, chain: SupplyChain, qualifier: Qualifier) -> None:
        self.chain = chain
        self.qualifier = qualifier
        self._rates: dict[str, list[tuple[Activity, Decimal]]] | None = None

    def rates(self, origin: str) -> list[tuple[Activity, Decimal]]:
        if self._rates is None:
            self._rates = processing_rates(self.chain)
        return self._rates.get(origin, [])


def processing_rates(chain: SupplyChain) -> dict[str, list[tuple[Activity, Decimal]]]:
    """Per origin batch O, each processing step's value per kg of O's minerals.

    A step S shares its value among the lineages flowing in by mineral
    mass: lineage (O, m) brings kg_m(O) x H(O, S), so its share is
    kg_m(O) x [value(S) x H(O, S) / total mass]; the bracket is the rate.
    """
    origin_kg = {o.id: sum(o.minerals.values(), ZERO) for o in chain.origins()}
    rates: dict[str, list[tuple[Activity, Decimal]]] = defaultdict(list)
    for step, consumed in processing_inflows(chain):
        value = chain.value_of(step)
        mass = sum((origin_kg[origin] * part for origin, part in consumed.items()), ZERO)
        if not value or not mass:
            continue  # no value, or no critical mineral flowing in
        per_kg = value / mass
        activity = chain.activity_of(step)
        for origin, part in consumed.items():
            if part and origin_kg[origin]:
                rates[origin].append((activity, per_kg * part))
    return rates


def processing_inflows(chain: SupplyChain) -> list[tuple[Step, dict[str, Decimal]]]:
    """For each processing step, H: the fraction of each origin batch it consumed.

    Origin content flows forward through the transforms that feed some
    processing step: a batch holds, of origin O, the fraction h(O, b); a
    step consuming q_i of input i takes h(O, i) x q_i / quantity(i) of O,
    and each output o gets that times Q_o / Q.
    """
    steps = chain.steps()
    feeding = _feeding_processing(chain, steps)
    content: dict[str, dict[str, Decimal]] = {o.id: {o.id: Decimal(1)} for o in chain.origins()}
    inflows = []
    for step in steps:
        is_processing = chain.activity_of(step).kind == PROCESSING
        if not is_processing and feeding.isdisjoint(step.outputs):
            continue
        consumed: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for batch, taken in chain.taken(step).items():
            for origin, fraction in content.get(batch, {}).items():
                consumed[origin] += fraction * taken
        if is_processing:
            inflows.append((step, consumed))
        for output in feeding.intersection(step.outputs):
            share = step.share_of(output)
            if share == 1:
                content[output] = consumed
            else:
                content[output] = {origin: part * share for origin, part in consumed.items()}
    return inflows


def _feeding_processing(chain: SupplyChain, steps: list[Step]) -> set[str]:
    """Batches whose origin content some processing step needs."""
    feeding: set[str] = set()
    for step in reversed(steps):
        if chain.activity_of(step).kind == PROCESSING or not feeding.isdisjoint(step.outputs):
            feeding.update(step.inputs)
    return feeding


# --- battery components ---------------------------------------------------------


@dataclass(frozen=True)
class ComponentValue:
    index: int
    batch: str
    component: str
    country: str
    value_usd: Decimal
    north_american: bool
    counts: bool = True  # a component the regulations list (not the pack)


def component_values(chain: SupplyChain, ruleset: rules.RuleSet) -> list[ComponentValue]:
    """Value x f of every manufacturing or assembly output that is a component."""
    found = []
    for batch_id, facts in sorted(chain.batches.items()):
        activity = facts.activity
        if activity.kind not in COMPONENT_KINDS or not facts.component:
            continue
        found.append(
            ComponentValue(
                index=activity.index,
                batch=batch_id,
                component=facts.component,
                country=activity.country,
                value_usd=facts.value_added_usd * chain.f(batch_id),
                north_american=rules.is_north_america(ruleset, activity.country),
                counts=rules.counts_as_component(ruleset, facts.component),
            )
        )
    return found


def north_american_share(components: list[ComponentValue]) -> Share:
    """North American value / all value, of the components that count."""
    counted = [c for c in components if c.counts]
    return Share(
        sum((c.value_usd for c in counted if c.north_american), ZERO),
        sum((c.value_usd for c in counted), ZERO),
    )


@dataclass(frozen=True)
class SplitValue:
    """A split's output that declares value added (splits add none)."""

    index: int
    batch: str
    value_usd: Decimal


def split_values(chain: SupplyChain) -> list[SplitValue]:
    return [
        SplitValue(facts.activity.index, batch_id, facts.value_added_usd)
        for batch_id, facts in sorted(chain.batches.items())
        if facts.activity.kind == "split" and facts.value_added_usd != 0 and chain.f(batch_id) > 0
    ]


# --- foreign entities of concern -----------------------------------------------


@dataclass(frozen=True)
class FeocFinding:
    index: int
    kind: str  # "components" or "minerals"
    issuer: str
    reasons: tuple[str, ...]


def feoc_kind(activity_kind: str) -> str | None:
    if activity_kind in COMPONENT_KINDS:
        return "components"
    if activity_kind in (*ORIGIN_KINDS, PROCESSING):
        return "minerals"
    return None  # a split manufactures, processes and extracts nothing


def feoc_findings(chain: SupplyChain, ruleset: rules.RuleSet, placed_in_service: dt.date) -> list[FeocFinding]:
    """Activities in the vehicle performed by a FEOC, where the FEOC rule applies."""
    applying = {kind for kind in rules.KINDS if rules.feoc_applies(ruleset, kind, placed_in_service)}
    activities = {
        facts.activity.index: facts.activity for batch_id, facts in chain.batches.items() if chain.f(batch_id) > 0
    }
    findings = []
    for index in sorted(activities):
        activity = activities[index]
        kind = feoc_kind(activity.kind)
        if kind not in applying:
            continue
        reasons = rules.feoc_reasons(
            ruleset,
            activity.issuer,
            activity.issuer_country,
            activity.country,
            activity.occurred_on,
            kind,
        )
        if reasons:
            findings.append(FeocFinding(index, kind, activity.issuer, tuple(reasons)))
    return findings


# --- the requirements and the credit --------------------------------------------


@dataclass(frozen=True)
class ClaimFacts:
    """What the signed claim says."""

    vin: str
    index: int
    batch: str
    quantity: Decimal
    acquired: dt.date
    placed_in_service: dt.date
    final_assembly_country: str


@dataclass(frozen=True)
class Assessment:
    lineages: tuple[Lineage, ...]
    minerals: Share
    components: tuple[ComponentValue, ...]
    north_america: Share
    required: tuple[Decimal, Decimal] | None
    feoc: tuple[FeocFinding, ...]
    final_assembly_met: bool
    credit_in_force_met: bool
    amounts: rules.CreditAmounts
    # How the rules of the placed-in-service date apply (see the module docstring).
    requirements_apply: bool = True
    minerals_method: str = rules.VALUE_ADDED_TEST
    acquired_in_force: bool = True  # acquired by the credit's end (2025-09-30)
    in_credit_period: bool = True  # placed in service from the credit's start (2023-01-01)
    split_values: tuple[SplitValue, ...] = ()

    @property
    def critical_minerals_met(self) -> bool:
        """Met, or not applicable; never met when the 50% test is not allowed."""
        if not self.requirements_apply:
            return True
        if self.minerals_method != rules.VALUE_ADDED_TEST:
            return False
        return self.required is not None and self.minerals.at_least(self.required[0])

    @property
    def battery_components_met(self) -> bool:
        """Met, or not applicable."""
        if not self.requirements_apply:
            return True
        return self.required is not None and self.north_america.at_least(self.required[1])

    @property
    def feoc_met(self) -> bool:
        return not self.feoc

    @property
    def agreements(self) -> list[str]:
        """Sorted slugs of the agreements relied on by qualifying lineages."""
        return sorted(set().union(*(item.agreements for item in self.lineages if item.qualifies)))

    def credit(self, *, intact: bool) -> Decimal:
        """Per met requirement, unless a gate fails (FEOC, assembly, in force, integrity)."""
        gates = (intact, self.feoc_met, self.final_assembly_met, self.credit_in_force_met)
        if not all(gates):
            return ZERO
        total = ZERO
        if self.critical_minerals_met:
            total += self.amounts.critical_minerals
        if self.battery_components_met:
            total += self.amounts.battery_components
        return total


def assess(claim: ClaimFacts, chain: SupplyChain, ruleset: rules.RuleSet) -> Assessment:
    """Every requirement of the credit for one claim under one RuleSet."""
    lineages = mineral_lineages(chain, ruleset)
    components = component_values(chain, ruleset)
    acquired_in_force = rules.credit_available(ruleset, claim.acquired)
    in_period = rules.in_credit_period(ruleset, claim.placed_in_service)
    return Assessment(
        lineages=tuple(lineages),
        minerals=Share(
            sum((item.value_usd for item in lineages if item.qualifies), ZERO),
            sum((item.value_usd for item in lineages), ZERO),
        ),
        components=tuple(components),
        north_america=north_american_share(components),
        required=rules.required_percentages(ruleset, claim.placed_in_service),
        feoc=tuple(feoc_findings(chain, ruleset, claim.placed_in_service)),
        final_assembly_met=rules.is_north_america(ruleset, claim.final_assembly_country),
        credit_in_force_met=acquired_in_force and in_period,
        amounts=rules.credit_amounts(ruleset),
        requirements_apply=rules.requirements_apply(ruleset, claim.placed_in_service),
        minerals_method=rules.minerals_method(ruleset, claim.placed_in_service),
        acquired_in_force=acquired_in_force,
        in_credit_period=in_period,
        split_values=tuple(split_values(chain)),
    )
