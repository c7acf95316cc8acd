"""The attestation grammar's decimal amounts (contract §3), in exact arithmetic.

An amount has at most 21 integer digits and 9 decimals: 30 significant
digits, more than the 28 of Python's default decimal context, which would
round a sum silently and refuse to quantize such an amount. Sums and
differences of amounts, and their rendering as the contract's strings, are
therefore made in `EXACT`, a context wide enough for any sum of amounts the
ledger can hold, that raises rather than rounds.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow

# 21 + 9 digits per amount; a batch's consumption is at most its quantity, so
# any sum the ledger makes (a consumption plus one more amount, a batch's
# minerals) stays far within 64 digits.
EXACT = Context(prec=64, rounding=ROUND_HALF_UP, traps=[Inexact, InvalidOperation, Overflow, DivisionByZero])

# For rounding to a number of places, where rounding is meant: as wide, not trapping.
ROUNDING = Context(prec=64, rounding=ROUND_HALF_UP)


def total(*amounts: Decimal) -> Decimal:
    """The exact sum of `amounts` (0 for none)."""
    result = Decimal(0)
    for amount in amounts:
        result = EXACT.add(result, amount)
    return result


def difference(minuend: Decimal, subtrahend: Decimal) -> Decimal:
    """The exact `minuend - subtrahend`."""
    return EXACT.subtract(minuend, subtrahend)


def text(amount: Decimal) -> str:
    """An amount as its grammar string, digit for digit: no exponent, the
    decimals it was written with (Decimal keeps them: "1.50" stays "1.50",
    "0.000000001" is not "1E-9")."""
    return format(amount, "f")
