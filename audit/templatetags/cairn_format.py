"""Cairn's formats in templates: {{ moment|utc }} (audit.timestamps.shown) and
{{ amount|dollars }} (audit.verdict_text.dollars)."""

import datetime as dt
from decimal import Decimal

from django import template

from audit import timestamps, verdict_text

register = template.Library()


@register.filter
def utc(moment: dt.datetime | str | None) -> str:
    return timestamps.shown(moment)


@register.filter
def dollars(amount: Decimal | str) -> str:
    return verdict_text.dollars(amount)
