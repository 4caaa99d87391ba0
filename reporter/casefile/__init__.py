"""The case-file format: model, parsing and JSON Schema. Only the case-file mapper reads case files."""

from reporter.casefile.model import CaseFile
from reporter.casefile.parse import json_schema, load_case, parse_case

__all__ = ["CaseFile", "json_schema", "load_case", "parse_case"]
