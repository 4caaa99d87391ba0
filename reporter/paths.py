"""Where the project's data folders are, installed or in a source checkout."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


@cache
def _locate(package: str, folder: str) -> Path:
    candidate = _REPO_ROOT / folder
    if candidate.is_dir():
        return candidate
    try:
        installed = Path(str(resources.files(package)))
    except ModuleNotFoundError:  # pragma: no cover - broken install
        installed = None
    if installed is not None and installed.is_dir():
        return installed
    raise FileNotFoundError(f"cannot find the {folder}/ folder (looked in {candidate} and {package})")


def mappings_dir() -> Path:
    return _locate("reporter.mappings", "mappings")


def templates_dir() -> Path:
    return _locate("reporter.templates", "templates")
