"""Small helpers shared by test modules."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reporter import yaml12

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
CASE1 = EXAMPLES / "case1-anakinra-hepatitis.yaml"


def load_example(path: Path = CASE1) -> dict[str, Any]:
    return yaml12.load(path.read_text(encoding="utf-8"))


def write_case(tmp_path: Path, data: dict[str, Any], name: str = "case.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def mutated(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)


def damage_strategy(bundle: dict[str, Any]):
    """Hypothesis strategy: lists of (path into the Bundle, damaging replacement): delete, wrong type, empty."""
    from hypothesis import strategies as st

    paths: list[tuple] = []

    def walk(node: Any, path: tuple) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))

    walk(bundle, ())
    damage = st.sampled_from(["delete", None, "text", 7, [], {}, [1, "x"]])
    return st.lists(st.tuples(st.sampled_from(paths[1:]), damage), min_size=1, max_size=6)


def apply_damage(bundle: dict[str, Any], changes: list[tuple[tuple, Any]]) -> dict[str, Any]:
    """Apply (path, change) pairs from damage_strategy to a copy of the Bundle."""
    damaged = copy.deepcopy(bundle)
    for path, change in changes:
        parent: Any = damaged
        try:
            for key in path[:-1]:
                parent = parent[key]
            if change == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(change)  # a shared drawn value must not make a cycle
        except (KeyError, IndexError, TypeError):
            continue
    return damaged


def setter(path: str, value: Any) -> Callable[[Any], None]:
    """A change that sets `value` at a dotted path of a JSON tree ("drugs.0.dose"; digits index lists)."""
    def change(tree: Any) -> None:
        *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        node = tree
        for key in parents:
            node = node[key]
        node[last] = value
    return change
