"""The material assistance cost ratio of a component batch (docs/contract-45x.md, "The verdict").

For a component batch B created by a transform T, whose issuer is the
taxpayer P, and a taxable year Y:

* direct materials = T's inputs; each must carry `direct_material_cost_usd`
  (a missing cost makes the result incomplete, never a pass);
  total = the sum of the costs;
* an input I is attributed to prohibited foreign entities, in whole, when
  its supplier (the issuer of the entry that created I) is designated a PFE
  on the status date of Y (`designated_pfe`), or when no certification
  counts for (I, P, Y) (`missing_certification`), or the one that counts is
  revoked (`revoked_certification`) or contrary (`contrary_certification`);
* a certification counts only when its issuer is I's supplier (else
  `wrong_party`), its taxpayer is P (`wrong_taxpayer`), its year is Y
  (`wrong_year`), and it is signed by a key of its issuer registered when it
  was logged and not revoked by the verdict's time (`revoked_key`,
  `no_issuer_key`); the latest counting one (by log index) governs;
* an affirmative certification attributes cost(I) × (1 − non_pfe ÷ dmc) of
  the supplier's certified figures (0 when they are equal, or dmc is 0);
* MACR = (total − attributed) ÷ total, exact (a Fraction), stored floored
  to 1e-12, shown truncated to two places (59.9996% shows "59.99").

Everything is read from the signed statements (`Logged`) and the keys
alone, so the server and the offline verifier compute the same figures.
No Django import.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction
from typing import Any

from cairn_core.entries import Key
from cairn_core.regimes.s45x.rules import CRITICAL_MINERAL, ComponentClass, Designation, Rules

# Why an input is attributed to prohibited foreign entities (in whole), and why it cannot be assessed.
DESIGNATED = "designated_pfe"
MISSING = "missing_certification"
REVOKED = "revoked_certification"
CONTRARY = "contrary_certification"
CERTIFIED_SHARE = "certified_pfe_share"  # an affirmative certification whose non-PFE part is below its total
MISSING_COST = "missing_cost"
OWN_PRODUCTION = "own_production"
NO_CREATOR = "no_creating_entry"
# Why a certification naming an input does not count.
WRONG_PARTY = "wrong_party"
WRONG_TAXPAYER = "wrong_taxpayer"
WRONG_YEAR = "wrong_year"
REVOKED_KEY = "revoked_key"
NO_ISSUER_KEY = "no_issuer_key"
# The precision of a stored ratio, and of an attributed amount shown in USD (rounded up: never less PFE).
RATIO_PLACES = Decimal("1e-12")
USD_PLACES = Decimal("1e-9")
READ_ERRORS = (KeyError, TypeError, ValueError, AttributeError, ArithmeticError)


class EvidenceError(ValueError):
    """The statements do not hold the component batch's creating entry."""


@dataclass(frozen=True)
class Logged:
    """A logged attestation as the verdict reads it: where it is, what was signed, by which keys."""

    index: int
    entry_hash: str
    integrated_time: int  # unix seconds
    payload: Mapping[str, Any]
    keyids: tuple[str, ...]  # the keyids of its signatures


@dataclass(frozen=True)
class Evidence:
    """What a component batch's MACR is computed from."""

    batch: str
    creator: Logged  # the entry that created the batch (a transform, or an origin)
    inputs: Mapping[str, Logged]  # each input batch of the creator -> the entry that created it
    certifications: tuple[Logged, ...]  # supplier_certification entries naming an input batch
    sales: tuple[Logged, ...]  # sale entries on the batch

    @functools.cached_property
    def certifications_by_batch(self) -> Mapping[str, tuple[Logged, ...]]:
        """The certifications naming each batch, in log order (one pass, not one per input)."""
        found: dict[str, list[Logged]] = {}
        for entry in self.certifications:
            batch = entry.payload.get("batch")
            if isinstance(batch, str):  # an input's batch is a string: nothing else can name it
                found.setdefault(batch, []).append(entry)
        return {batch: tuple(entries) for batch, entries in found.items()}

    @functools.cached_property
    def certification_at(self) -> Mapping[int, Logged]:
        return {entry.index: entry for entry in self.certifications}


def gather(statements: Iterable[Logged], batch: str) -> Evidence:
    """The evidence for `batch` among `statements` (any superset will do: the rest is ignored).

    The creating entry of a batch is the first entry whose outputs name it.
    EvidenceError when no statement creates `batch`.
    """
    ordered = sorted(statements, key=lambda item: item.index)
    creators: dict[str, Logged] = {}
    for item in ordered:
        for output in _outputs(item.payload):
            creators.setdefault(output, item)
    creator = creators.get(batch)
    if creator is None:
        raise EvidenceError(f"no statement creates the batch {batch}")
    input_batches = [str(item["batch"]) for item in creator.payload.get("inputs", [])]
    wanted = set(input_batches)
    return Evidence(
        batch=batch,
        creator=creator,
        inputs={name: creators[name] for name in input_batches if name in creators},
        certifications=tuple(
            item
            for item in ordered
            if item.payload.get("type") == "supplier_certification" and item.payload.get("batch") in wanted
        ),
        sales=tuple(
            item for item in ordered if item.payload.get("type") == "sale" and item.payload.get("batch") == batch
        ),
    )


def _outputs(payload: Mapping[str, Any]) -> list[str]:
    outputs = payload.get("outputs", [])
    return [str(item["batch"]) for item in outputs if isinstance(item, dict) and "batch" in item]


# --- the result -----------------------------------------------------------------------


@dataclass(frozen=True)
class CertificationUse:
    """A certification naming an input: counted (reason "") or ignored, and why."""

    index: int
    entry_hash: str
    issuer: str
    taxpayer: str
    taxable_year: int
    status: str
    reason: str  # "" when it counts, else WRONG_PARTY, WRONG_TAXPAYER, WRONG_YEAR, REVOKED_KEY, NO_ISSUER_KEY


@dataclass(frozen=True)
class InputResult:
    """One direct material: its cost, the part attributed to PFEs, and why."""

    batch: str
    supplier: str
    creating_index: int | None
    creating_entry_hash: str | None
    cost: Decimal | None
    attributed: Fraction  # the part of the cost attributed to PFEs, exact
    reasons: tuple[str, ...]
    designations: tuple[Designation, ...]
    governing: CertificationUse | None  # the certification that counts (the latest), if any
    certifications: tuple[CertificationUse, ...]  # every certification naming the input, in log order
    non_pfe_share: Fraction | None  # an affirmative certification's non_pfe ÷ dmc


@dataclass(frozen=True)
class Sale:
    index: int
    entry_hash: str
    sold_on: dt.date
    binding_contract_on: dt.date | None
    quantity: Decimal


@dataclass(frozen=True)
class Macr:
    """The computation for (batch, taxable year): every figure the verdict shows, exact."""

    batch: str
    component: str
    component_class: ComponentClass | None
    taxpayer: str
    taxable_year: int
    creator: Logged
    inputs: tuple[InputResult, ...]
    sales: tuple[Sale, ...]
    total: Decimal | None  # None when a cost is missing
    attributed: Fraction | None
    ratio: Fraction | None  # None when not computable (a cost missing, or no direct material cost at all)
    incomplete: tuple[str, ...] = field(default=())  # why the evidence is incomplete

    @property
    def ratio_stored(self) -> Decimal | None:
        return floor_decimal(self.ratio, RATIO_PLACES) if self.ratio is not None else None


def floor_decimal(value: Fraction, places: Decimal) -> Decimal:
    """`value` rounded down to `places` (a power of ten), exactly."""
    with localcontext() as context:
        context.prec = 80
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        floored = exact.quantize(places, rounding=ROUND_FLOOR)
        # Decimal division at 80 digits may round up past the exact value: step down if it did.
        if Fraction(floored) > value:
            floored -= places
        return floored


def ceiling_decimal(value: Fraction, places: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 80
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        ceiled = exact.quantize(places, rounding=ROUND_CEILING)
        if Fraction(ceiled) < value:
            ceiled += places
        return ceiled


def percent_shown(ratio: Fraction, threshold: Decimal | None) -> str:
    """The ratio as a percentage truncated to two places, never rounded up: 59.9996% shows "59.99".

    With a threshold of more than two places, as many more places as it takes
    for the figure shown to stand on the same side of the threshold as the
    exact ratio.
    """
    percent = ratio * 100
    met = threshold is None or percent >= Fraction(threshold)
    for places in range(2, 40):
        shown = floor_decimal(percent, Decimal(1).scaleb(-places))
        if threshold is None or (shown >= threshold) == met:
            return str(shown)
    return str(shown)


# --- computing ----------------------------------------------------------------------


def component_of(evidence: Evidence) -> str:
    """The batch's `component` as its creating statement says, or CRITICAL_MINERAL for an origin output."""
    for output in evidence.creator.payload.get("outputs", []):
        if output.get("batch") == evidence.batch:
            if evidence.creator.payload.get("type") == "origin":
                return CRITICAL_MINERAL
            return str(output.get("component", ""))
    return ""


def compute(evidence: Evidence, taxable_year: int, rules: Rules, keys: Mapping[str, Key], as_of: dt.datetime) -> Macr:
    """The MACR of `evidence.batch` for `taxable_year` (see the module docstring).

    `keys` are the keys as the log says (registration and revocation times);
    a key revoked at or before `as_of` (the verification's time) makes the
    certifications it signed not count.
    """
    creator = evidence.creator
    taxpayer = str(creator.payload["issuer"])
    component = component_of(evidence)
    inputs = tuple(
        _input(item, evidence, taxpayer, taxable_year, rules, keys, as_of.timestamp())
        for item in creator.payload.get("inputs", [])
    )
    incomplete = sorted({reason for item in inputs for reason in item.reasons if reason in INCOMPLETE})
    if not inputs:
        incomplete.append("no_direct_materials")
    costs = [item.cost for item in inputs]
    total = sum((cost for cost in costs if cost is not None), Decimal(0)) if None not in costs else None
    attributed = sum((item.attributed for item in inputs), Fraction(0)) if total is not None else None
    ratio = None
    if total is not None and attributed is not None and total > 0:
        ratio = (Fraction(total) - attributed) / Fraction(total)
    elif total is not None and "no_direct_materials" not in incomplete:
        incomplete.append("no_direct_material_cost")
    return Macr(
        batch=evidence.batch,
        component=component,
        component_class=rules.component_class(component) if component else None,
        taxpayer=taxpayer,
        taxable_year=taxable_year,
        creator=creator,
        inputs=inputs,
        sales=tuple(_sale(item) for item in evidence.sales),
        total=total,
        attributed=attributed,
        ratio=ratio,
        incomplete=tuple(incomplete),
    )


INCOMPLETE = frozenset({MISSING_COST, OWN_PRODUCTION, NO_CREATOR})


def _input(
    item: Mapping[str, Any],
    evidence: Evidence,
    taxpayer: str,
    year: int,
    rules: Rules,
    keys: Mapping[str, Key],
    as_of: float,
) -> InputResult:
    batch = str(item["batch"])
    cost = Decimal(item["direct_material_cost_usd"]) if "direct_material_cost_usd" in item else None
    created = evidence.inputs.get(batch)
    supplier = str(created.payload["issuer"]) if created is not None else ""
    uses = tuple(
        _use(entry, supplier, taxpayer, year, keys, as_of) for entry in evidence.certifications_by_batch.get(batch, ())
    )
    counting = [use for use in uses if not use.reason]
    governing = counting[-1] if counting else None
    designations = tuple(rules.designations_of(supplier, year)) if supplier else ()
    reasons, share = _attribution(governing, evidence, designations)
    if cost is None:
        reasons = (MISSING_COST, *reasons)
    if created is None:
        reasons = (NO_CREATOR, *reasons)
    elif supplier == taxpayer:
        reasons = (OWN_PRODUCTION, *reasons)
    whole = Fraction(cost) if cost is not None else Fraction(0)
    attributed = whole if set(reasons) & WHOLE else whole * (1 - share) if share is not None else Fraction(0)
    return InputResult(
        batch=batch,
        supplier=supplier,
        creating_index=created.index if created is not None else None,
        creating_entry_hash=created.entry_hash if created is not None else None,
        cost=cost,
        attributed=attributed,
        reasons=reasons,
        designations=designations,
        governing=governing,
        certifications=uses,
        non_pfe_share=share,
    )


WHOLE = frozenset({DESIGNATED, MISSING, REVOKED, CONTRARY})


def _attribution(
    governing: CertificationUse | None, evidence: Evidence, designations: tuple[Designation, ...]
) -> tuple[tuple[str, ...], Fraction | None]:
    """The reasons an input is attributed to PFEs, and an affirmative certification's non-PFE share."""
    reasons = [DESIGNATED] if designations else []
    if governing is None:
        return (*reasons, MISSING), None
    if governing.status == "revoked":
        return (*reasons, REVOKED), None
    payload = evidence.certification_at[governing.index].payload
    if payload["not_produced_by_pfe"] is not True or payload["no_knowledge_of_prior_pfe"] is not True:
        return (*reasons, CONTRARY), None
    dmc = Fraction(Decimal(payload["direct_material_cost_usd"]))
    non_pfe = Fraction(Decimal(payload["non_pfe_direct_material_cost_usd"]))
    share = non_pfe / dmc if dmc else Fraction(1)
    if share < 1:
        reasons.append(CERTIFIED_SHARE)
    return tuple(reasons), share


def _use(
    entry: Logged, supplier: str, taxpayer: str, year: int, keys: Mapping[str, Key], as_of: float
) -> CertificationUse:
    payload = entry.payload
    issuer = str(payload["issuer"])
    reason = ""
    if issuer != supplier:
        reason = WRONG_PARTY
    elif payload["taxpayer"] != taxpayer:
        reason = WRONG_TAXPAYER
    elif payload["taxable_year"] != year:
        reason = WRONG_YEAR
    else:
        reason = _key_reason(entry, issuer, keys, as_of)
    return CertificationUse(
        entry.index,
        entry.entry_hash,
        issuer,
        str(payload["taxpayer"]),
        int(payload["taxable_year"]),
        str(payload["status"]),
        reason,
    )


def _key_reason(entry: Logged, issuer: str, keys: Mapping[str, Key], as_of: float) -> str:
    """ "" when a key of the issuer, registered when the entry was logged, signed it and was not
    revoked by `as_of`; otherwise why not."""
    issuer_keys = [keys[keyid] for keyid in entry.keyids if keyid in keys and keys[keyid].organization == issuer]
    registered = [key for key in issuer_keys if key.registered <= entry.integrated_time]
    if any(key.revoked is None or key.revoked > as_of for key in registered):
        return ""
    return REVOKED_KEY if registered else NO_ISSUER_KEY


def _sale(entry: Logged) -> Sale:
    payload = entry.payload
    binding = payload.get("binding_contract_on")
    return Sale(
        index=entry.index,
        entry_hash=entry.entry_hash,
        sold_on=dt.date.fromisoformat(payload["sold_on"]),
        binding_contract_on=dt.date.fromisoformat(binding) if binding is not None else None,
        quantity=Decimal(payload["quantity"]),
    )
