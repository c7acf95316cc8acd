"""What a claim is meant to show, told on its admin page ("" for most claims).

Apps above audit (the demo) register a teller: a function from a VIN to
its story, or "" when it has none. The claim's page shows the first story
told; audit itself knows no stories.
"""

from __future__ import annotations

from collections.abc import Callable

Teller = Callable[[str], str]

_tellers: list[Teller] = []


def register(teller: Teller) -> None:
    """Add a teller (once, however often the app registering it is readied)."""
    if teller not in _tellers:
        _tellers.append(teller)


def story(vin: str) -> str:
    """The first story a registered teller tells of the claim, or ""."""
    return next((told for told in (teller(vin) for teller in _tellers) if told), "")
