"""FHIR date, dateTime and instant values as UTC ranges, keeping their precision.

`2023` covers the whole year, `2023-04` the month, `2023-04-05T10:00Z` the second. Searches compare these
ranges (FHIR search semantics for dates), so partial dates are neither widened nor narrowed.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


_LATEST = datetime.max.replace(tzinfo=UTC)


def parse_range(value: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC for a FHIR date/dateTime/instant. Raises ValueError if malformed or outside the
    years 1..9999 once in UTC; a range running past the end of year 9999 ends there.

    A time without zone is read as UTC (FHIR says the server's zone; this server's zone is UTC).
    """
    try:
        start, end = _parse_range(value)
    except OverflowError as exc:
        raise ValueError(f"date out of range: {value!r}") from exc
    return start, end


def _after(start: datetime, step: timedelta) -> datetime:
    try:
        return start + step
    except OverflowError:
        return _LATEST


def _parse_range(value: str) -> tuple[datetime, datetime]:
    match = _DATE_RE.match(value.strip())
    if not match:
        raise ValueError(f"not a FHIR date/dateTime: {value!r}")
    g = match.groupdict()
    year = int(g["y"])
    if g["m"] is None:
        start = datetime(year, 1, 1, tzinfo=UTC)
        return start, datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else _LATEST
    month = int(g["m"])
    if g["d"] is None:
        start = datetime(year, month, 1, tzinfo=UTC)
        days = calendar.monthrange(year, month)[1]
        return start, _after(start, timedelta(days=days))
    day = int(g["d"])
    if g["H"] is None:
        start = datetime(year, month, day, tzinfo=UTC)
        return start, _after(start, timedelta(days=1))
    tz = UTC
    if g["tz"] and g["tz"] != "Z":
        sign = 1 if g["tz"][0] == "+" else -1
        hours, minutes = int(g["tz"][1:3]), int(g["tz"][4:6])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    if g["S"] is None:
        step = timedelta(minutes=1)
        second, micro = 0, 0
    elif g["f"] is None:
        step = timedelta(seconds=1)
        second, micro = int(g["S"]), 0
    else:
        digits = g["f"][:6]
        second, micro = int(g["S"]), int(digits.ljust(6, "0"))
        step = timedelta(microseconds=10 ** (6 - len(digits)))
    local = datetime(year, month, day, int(g["H"]), int(g["M"]), second, micro, tzinfo=tz)
    start = local.astimezone(UTC)
    return start, _after(start, step)


def format_instant(moment: datetime) -> str:
    """FHIR instant with microseconds in UTC: sorts as text and round-trips through parse_range exactly."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
