"""Query strings bounded before any view runs (mappings/limits.yaml): how many parameters, how often one
repeats, how long a value is, how many comma-separated values it lists, and no control characters (which
PostgreSQL text cannot hold and no FHIR search value contains). Refusals are 400s naming the parameter."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from reporter.errors import InputError
from reporter.limits import has_forbidden, limit


def check_query(args: MultiDict) -> None:
    total = 0
    max_total, max_repeats = limit("query_parameters"), limit("query_repeats")
    max_chars, max_values = limit("query_value_chars"), limit("query_values")
    for key in args:
        values = args.getlist(key)
        total += len(values)
        name = key[:40]
        if total > max_total:
            raise InputError(f"more than {max_total} query parameters", location="query",
                             hint="split the request or use fewer parameters")
        if len(values) > max_repeats:
            raise InputError(f"{name} repeated {len(values)} times (at most {max_repeats})", location=name)
        for text in (key, *values):
            char = has_forbidden(text)
            if char is not None:
                raise InputError(f"control character U+{ord(char):04X} in a query parameter", location=name or "query")
            if len(text) > max_chars:
                raise InputError(f"query parameter longer than {max_chars} characters", location=name)
            if text.count(",") >= max_values:
                raise InputError(f"more than {max_values} comma-separated values", location=name)
