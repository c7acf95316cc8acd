"""Celery tasks of the ledger: each entry's EPCIS event, derived once after
its append (provenance.epcis). Harmless if delivered twice: a task claims
only entries whose event is not stored yet."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from provenance import epcis
from provenance.gather import Gatherer

logger = logging.getLogger(__name__)


@shared_task(name="provenance.derive_epcis_events")
def derive_epcis_events(indexes: list[int] | None = None) -> int:
    """Derive and store the EPCIS events of `indexes` (every entry without
    one when None); returns how many were derived."""
    return epcis.derive_pending(indexes)


def schedule_epcis_events(indexes: list[int]) -> None:
    """Have a worker derive the new entries' events (called once their append
    committed). Only queued here: a thread sends what has gathered as one
    task, at most every EPCIS_GATHER_SECONDS (provenance.gather), so that the
    sequencer never waits on the broker. Sent once, without Celery's publish
    retries: a broker that is down must not hold the write path, and the
    first export derives what is missing."""
    if indexes and settings.CAIRN_EPCIS_DERIVE_ON_APPEND:
        _epcis_events.add(indexes)


def flush_epcis_events(timeout: float = 5.0) -> bool:
    """Send the events queued by `schedule_epcis_events` now; False when
    that took longer than `timeout` seconds."""
    return _epcis_events.flush(timeout)


def _send_epcis_events(indexes: list[int]) -> None:
    try:
        derive_epcis_events.apply_async((indexes,), retry=False)
    except Exception:  # the entries are committed; an export derives their events
        logger.warning("could not schedule the EPCIS events of %d entries", len(indexes), exc_info=True)


# A fifth of a second: at most five sends a second, whatever the write rate.
EPCIS_GATHER_SECONDS = 0.2
_epcis_events: Gatherer[int] = Gatherer("cairn-epcis-schedule", _send_epcis_events, EPCIS_GATHER_SECONDS)
