"""Small helpers shared by test modules."""

from __future__ import annotations

import copy
import json
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
