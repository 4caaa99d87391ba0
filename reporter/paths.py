"""Where the project's data folders are: at the top of a source checkout, or inside the installed
package (pyproject.toml installs mappings/, templates/ and examples/ as reporter/<folder>)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _PACKAGE_DIR.parent


@cache
def _locate(folder: str) -> Path:
    for candidate in (_PACKAGE_DIR / folder, _REPO_ROOT / folder):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {folder}/ folder (looked in {_REPO_ROOT} and {_PACKAGE_DIR})")


def mappings_dir() -> Path:
    return _locate("mappings")


def templates_dir() -> Path:
    return _locate("templates")


def examples_dir() -> Path:
    return _locate("examples")
