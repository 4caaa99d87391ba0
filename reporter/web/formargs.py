"""Query arguments of the page filters (case list, audit trail), read the same way everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import request


def date_arg(name: str, errors: dict[str, str], *, end: bool = False) -> datetime | None:
    """The day in ?name=YYYY-MM-DD as a UTC instant: its start, or with `end` the start of the next day (the
    bound is exclusive; 9999-12-31 ends at its own start, there being no next day). A bad date goes into
    `errors` under the argument's name and gives None."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        errors[name] = f"{text[:40]!r} is not a date (YYYY-MM-DD)"
        return None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(days=1) if end and day < date.max else start
