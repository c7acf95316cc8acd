"""What a component batch's §45X verdict is meant to show, told on its page ("" for most batches).

As `audit.claim_stories` for claims: apps above audit (the demo) register a
teller, a function from a batch id and a taxable year to its story, or ""
when it has none. The batch's §45X page shows the first story told; audit
itself knows no stories.
"""

from __future__ import annotations

from collections.abc import Callable

Teller = Callable[[str, int], str]

_tellers: list[Teller] = []


def register(teller: Teller) -> None:
    """Add a teller (once, however often the app registering it is readied)."""
    if teller not in _tellers:
        _tellers.append(teller)


def story(batch: str, taxable_year: int) -> str:
    """The first story a registered teller tells of the batch and year, or ""."""
    return next((told for told in (teller(batch, taxable_year) for teller in _tellers) if told), "")
