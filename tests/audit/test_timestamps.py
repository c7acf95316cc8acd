"""Every timestamp in one format with its zone (audit.timestamps, config/formats)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template

from audit import timestamps

MOMENT = dt.datetime(2026, 3, 1, 9, 5, 9, 123456, tzinfo=ZoneInfo("America/Chicago"))


def test_pages_show_utc_to_the_second_with_the_zone_and_files_use_iso_with_z():
    assert timestamps.shown(MOMENT) == "2026-03-01 15:05:09 UTC"
    assert timestamps.iso(MOMENT) == "2026-03-01T15:05:09Z"
    assert timestamps.shown("2026-03-01T15:05:09.5Z") == "2026-03-01 15:05:09 UTC"
    assert timestamps.shown(None) == "" and timestamps.shown("") == ""


def test_a_naive_timestamp_is_refused():
    with pytest.raises(ValueError, match="naive"):
        timestamps.shown(dt.datetime(2026, 3, 1, 9, 5))  # noqa: DTZ001 - the case under test


def test_the_admin_s_own_dates_and_times_use_the_same_format():
    rendered = Template("{{ moment }}|{{ moment.date }}|{{ moment|date }}").render(Context({"moment": MOMENT}))
    assert rendered == "2026-03-01 15:05:09 UTC|2026-03-01|2026-03-01"
