"""Dates and times as every Cairn page shows them: ISO 8601 order, the zone written
out (audit.timestamps.shown for the pages Cairn renders itself)."""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
TIME_FORMAT = "H:i:s"
