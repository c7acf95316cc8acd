"""A trade agreement row (or its historical state) as the pure rules see it.

`agreement_rule` reads only attributes, so it takes a model instance or a
django-simple-history record alike. Both `agreements.models` and
`agreements.snapshot` use it; it imports neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Protocol

from cairn_core.regimes.s30d import rules


class AgreementEventRow(Protocol):
    """The fields of an AgreementEvent (or its history) the rules read."""

    @property
    def pk(self) -> Any: ...
    @property
    def kind(self) -> str: ...
    @property
    def effective_from(self) -> dt.date: ...
    @property
    def effective_to(self) -> dt.date | None: ...
    @property
    def minerals_added(self) -> Any: ...  # a JSON list of mineral slugs
    @property
    def minerals_removed(self) -> Any: ...


class AgreementRow(Protocol):
    """The fields of a TradeAgreement (or its history) the rules read."""

    @property
    def slug(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def parties(self) -> Any: ...  # country codes (django-countries has no stubs)
    @property
    def counts_from(self) -> dt.date: ...
    @property
    def source(self) -> str: ...
    @property
    def ends(self) -> dt.date | None: ...
    @property
    def covers_all_minerals(self) -> bool: ...
    @property
    def covered_minerals(self) -> Any: ...  # a JSON list of mineral slugs
    @property
    def signed(self) -> dt.date | None: ...
    @property
    def entered_into_force(self) -> dt.date | None: ...
    @property
    def notes(self) -> str: ...


def country_codes(countries: Iterable[object]) -> frozenset[str]:
    return frozenset(str(code) for code in countries)


def agreement_rule(agreement: AgreementRow, events: Iterable[AgreementEventRow]) -> rules.AgreementRule:
    """A TradeAgreement (or its historical state) and its events, as a rule."""
    return rules.AgreementRule(
        slug=agreement.slug,
        title=agreement.title,
        kind=agreement.kind,
        parties=country_codes(agreement.parties),
        counts_from=agreement.counts_from,
        source=agreement.source,
        ends=agreement.ends,
        covers_all=agreement.covers_all_minerals,
        minerals=frozenset(agreement.covered_minerals),
        events=tuple(
            rules.AgreementEventRule(
                kind=event.kind,
                effective_from=event.effective_from,
                effective_to=event.effective_to,
                minerals_added=frozenset(event.minerals_added),
                minerals_removed=frozenset(event.minerals_removed),
            )
            for event in sorted(events, key=lambda item: (item.effective_from, item.pk))
        ),
        signed=agreement.signed,
        entered_into_force=agreement.entered_into_force,
        notes=agreement.notes,
    )
