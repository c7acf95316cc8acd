"""Every timestamp Cairn shows, in one format with its zone.

Pages show UTC to the second with the zone written out ("2026-03-01
14:05:09 UTC"); files (CSV, the signed verdicts) use ISO 8601 in UTC with a
Z ("2026-03-01T14:05:09Z"). A string that is already ISO 8601 (a signed
verdict's `verified_at`) is shown the same way.
"""

from __future__ import annotations

import datetime as dt


def as_utc(moment: dt.datetime | str) -> dt.datetime:
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"a naive timestamp has no zone to show: {moment}")
    return moment.astimezone(dt.UTC)


def shown(moment: dt.datetime | str | None) -> str:
    """For pages: "2026-03-01 14:05:09 UTC" ("" for none)."""
    return "" if moment is None or moment == "" else f"{as_utc(moment):%Y-%m-%d %H:%M:%S} UTC"


def iso(moment: dt.datetime | str) -> str:
    """For files: "2026-03-01T14:05:09Z"."""
    return f"{as_utc(moment):%Y-%m-%dT%H:%M:%SZ}"
