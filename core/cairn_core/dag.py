"""Attribution over the batch DAG (Cairn domain, "The computation", step 1).

A transform consumes q_i of each input i and makes outputs o of quantity
Q_o (all in one unit, Q = sum of Q_o). Its inputs are attributed to its
outputs in proportion to output quantity. The attribution factor f of a
batch is the fraction of it that ended up in the target:

    f(target) = given fraction (claim quantity / pack quantity, or 1)
    f(i) += f(o) * (Q_o / Q) * (q_i / quantity(i))   for each transform

Pure Decimal arithmetic, no Django import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from cairn_core.amounts import ROUNDING


@dataclass(frozen=True)
class Step:
    """A transform: the entry at `index` consumed `inputs` and made `outputs`."""

    index: int
    inputs: Mapping[str, Decimal]
    outputs: Mapping[str, Decimal]

    @property
    def output_total(self) -> Decimal:
        return sum(self.outputs.values(), Decimal(0))

    def share_of(self, output: str) -> Decimal:
        return self.outputs[output] / self.output_total


@dataclass
class Graph:
    """The upstream DAG of a target batch."""

    quantities: dict[str, Decimal]
    # the transform that created each batch (absent for origin batches)
    made_by: dict[str, Step] = field(default_factory=dict)

    def edges(self) -> list[tuple[str, str, int, Decimal]]:
        """(input, output, index, input quantity attributed to the output)."""
        result = []
        for output, step in sorted(self.made_by.items(), key=lambda item: (item[1].index, item[0])):
            for batch, consumed in sorted(step.inputs.items()):
                result.append((batch, output, step.index, consumed * step.share_of(output)))
        return result


def attribution_factors(graph: Graph, target: str, fraction: Decimal = Decimal(1)) -> dict[str, Decimal]:
    """The fraction of every upstream batch that ended up in `target`."""
    factors = {target: fraction}
    # A batch is made before it is consumed, so visiting outputs from the
    # newest transform back completes each f before it is passed on.
    pending = sorted(graph.made_by.items(), key=lambda item: item[1].index, reverse=True)
    for output, step in pending:
        f_out = factors.get(output)
        if not f_out:
            continue
        share = step.share_of(output)
        for batch, consumed in step.inputs.items():
            factors[batch] = factors.get(batch, Decimal(0)) + f_out * share * (consumed / graph.quantities[batch])
    return factors


def decimal_str(value: Decimal, places: int = 9) -> str:
    """A decimal as the contract's string: rounded half-up, no exponent, no trailing zeros."""
    quantum = Decimal(1).scaleb(-places)
    text = format(value.quantize(quantum, rounding=ROUND_HALF_UP, context=ROUNDING), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
