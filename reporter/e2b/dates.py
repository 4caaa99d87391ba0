"""FHIR date/dateTime <-> HL7 v3 TS, keeping the precision the source has (never padding)."""

from __future__ import annotations

import datetime as dt
import re

from reporter.errors import E2BError

_FHIR = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})"
    r"(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d+)?([+-]\d{2,4})?$")


def to_ts(value: str, *, location: str | None = None) -> str:
    """'2023' -> '2023', '2023-04-05' -> '20230405', '2023-04-05T10:30:00+02:00' -> '20230405103000+0200'.

    A time in UTC ('Z') becomes '+0000' so the zone is always explicit."""
    m = _FHIR.match(value or "")
    if not m:
        raise E2BError(f"{value!r} is not a FHIR date or dateTime", location=location,
                       hint="use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+hh:mm")
    out = m["y"] + (m["m"] or "") + (m["d"] or "")
    if m["H"] is not None:
        out += m["H"] + m["M"] + (m["S"] or "")
        if m["S"] is not None and m["f"]:
            out += m["f"]
        tz = m["tz"]
        if tz:
            out += "+0000" if tz == "Z" else tz.replace(":", "")
    return out


def ts_digits(ts: str) -> int:
    """How many date/time digits (precision) an HL7 TS has: 4 year, 8 day, 14 second."""
    m = _TS.match(ts or "")
    if not m:
        return 0
    return len("".join(g for g in m.groups()[:6] if g))


def ts_is_valid(ts: str) -> bool:
    m = _TS.match(ts or "")
    if not m or ts_digits(ts) not in (4, 6, 8, 10, 12, 14):
        return False
    try:
        ts_start(ts)
    except ValueError:
        return False
    return True


def ts_start(ts: str) -> dt.datetime:
    """The earliest instant the TS can mean (in its zone, or naive without one): for future-date checks."""
    m = _TS.match(ts)
    if not m:
        raise ValueError(ts)
    y, mo, d, hh, mi, ss, _frac, tz = m.groups()
    moment = dt.datetime(int(y), int(mo or 1), int(d or 1), int(hh or 0), int(mi or 0), int(ss or 0))
    if tz:
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].ljust(4, "0")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]))
        moment = moment.replace(tzinfo=dt.timezone(sign * offset))
    return moment


def now_ts(moment: dt.datetime | None = None) -> str:
    """A full-precision TS with zone offset, e.g. 20240101120000+0000."""
    moment = moment or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.strftime("%Y%m%d%H%M%S%z")
