"""{{ value|utc }}: a timestamp in Cairn's one format (audit.timestamps.shown)."""

import datetime as dt

from django import template

from audit import timestamps

register = template.Library()


@register.filter
def utc(moment: dt.datetime | str | None) -> str:
    return timestamps.shown(moment)
