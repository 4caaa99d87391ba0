"""UCUM units as (factor, dimensions), for the plausibility checks: is a unit a mass or a substance
concentration, and how does a value convert between two units of the same kind.

Only the atoms in mappings/plausibility.yaml `unit_atoms` are known (the ones lab results use); a unit
with any other atom gives None, and the checks then say nothing about it (the UCUM syntax itself is checked
by reporter/validation/ucum.py). Annotations ({FEU}, {cells}) carry no dimension."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from reporter.tables import load_yaml

Dims = tuple[tuple[str, int], ...]


@cache
def table() -> dict[str, Any]:
    return load_yaml("plausibility.yaml")


def _dims(raw: dict[str, int]) -> Dims:
    return tuple(sorted((k, v) for k, v in raw.items() if v))


def _atom(symbol: str) -> tuple[float, dict[str, int]] | None:
    atoms = table()["unit_atoms"]
    if symbol in atoms:
        factor, dims = atoms[symbol]
        return float(factor), dict(dims)
    for prefix, scale in sorted(table()["unit_prefixes"].items(), key=lambda p: -len(p[0])):
        rest = symbol[len(prefix):]
        if symbol.startswith(prefix) and rest in atoms and not rest.startswith("["):
            factor, dims = atoms[rest]
            return float(scale) * float(factor), dict(dims)
    return None


def _component(text: str) -> tuple[float, dict[str, int]] | None:
    text = re.sub(r"\{[^{}]*\}", "", text)
    if text == "" or text == "1":
        return 1.0, {}
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text), {}
    power = re.fullmatch(r"10[*^]([+-]?\d+)", text)
    if power:
        return 10.0 ** int(power.group(1)), {}
    found = _atom(text)
    if found:
        return found
    exp = re.fullmatch(r"(.+?)([+-]?\d+)", text)
    if exp:
        base = _atom(exp.group(1))
        if base:
            n = int(exp.group(2))
            return base[0] ** n, {k: v * n for k, v in base[1].items()}
    return None


@cache
def parse(unit: str) -> tuple[float, Dims] | None:
    """(factor to base units, dimensions) of a UCUM unit made of known atoms, else None."""
    if not unit or "(" in unit or " " in unit:
        return None
    tokens = re.split(r"([./])", unit if unit[0] != "/" else "1" + unit)
    factor, dims = 1.0, {}
    for i in range(0, len(tokens), 2):
        found = _component(tokens[i])
        if found is None:
            return None
        sign = -1 if i and tokens[i - 1] == "/" else 1
        factor = factor * found[0] if sign > 0 else factor / found[0]
        for key, value in found[1].items():
            dims[key] = dims.get(key, 0) + sign * value
    return factor, _dims(dims)


@cache
def property_dims(code: str) -> Dims | None:
    spec = table()["properties"].get(code)
    return _dims(spec["dims"]) if spec else None


def property_name(code: str) -> str:
    spec = table()["properties"].get(code)
    return spec["name"] if spec else code


def convert(value: float, unit: str, target: str) -> float | None:
    """`value` in `unit` expressed in `target`, when both are known units of the same dimensions."""
    a, b = parse(unit), parse(target)
    if a is None or b is None or a[1] != b[1]:
        return None
    return value * a[0] / b[0]


MASS, SUBSTANCE = _dims({"M": 1, "L": -3}), _dims({"N": 1, "L": -3})


def convert_molar(value: float, unit: str, target: str, molar_mass: float) -> float | None:
    """Mass <-> substance concentration through a molar mass (g/mol), e.g. bilirubin mg/dL <-> umol/L."""
    a, b = parse(unit), parse(target)
    if a is None or b is None:
        return None
    base = value * a[0]
    if a[1] == MASS and b[1] == SUBSTANCE:
        return base / molar_mass / b[0]
    if a[1] == SUBSTANCE and b[1] == MASS:
        return base * molar_mass / b[0]
    return None
