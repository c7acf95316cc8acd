"""Celery tasks of the ledger: each entry's EPCIS event, derived once after
its append (provenance.epcis). Harmless if delivered twice: a task claims
only entries whose event is not stored yet."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from provenance import epcis

logger = logging.getLogger(__name__)


@shared_task(name="provenance.derive_epcis_events")
def derive_epcis_events(indexes: list[int] | None = None) -> int:
    """Derive and store the EPCIS events of `indexes` (every entry without
    one when None); returns how many were derived."""
    return epcis.derive_pending(indexes)


def schedule_epcis_events(indexes: list[int]) -> None:
    """Have a worker derive the new entries' events (called once their append
    committed). Sent once, without Celery's publish retries: this runs
    after every append, and a broker that is down must not hold the write
    path; the first export derives what is missing."""
    if not indexes or not settings.CAIRN_EPCIS_DERIVE_ON_APPEND:
        return
    try:
        derive_epcis_events.apply_async((indexes,), retry=False)
    except Exception:  # the entries are committed; an export derives their events
        logger.warning("could not schedule the EPCIS events of %d entries", len(indexes), exc_info=True)
