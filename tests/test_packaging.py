"""`pip install .` installs everything the project runs on: every Python package under reporter/ is listed in
pyproject.toml, and every file of mappings/, templates/ and examples/ matches a package-data pattern (a module
split into a new subpackage, or a new kind of static file, once worked from the source tree only)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_python_package_is_installed() -> None:
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "reporter").rglob("__init__.py")}
    assert found - set(SETUPTOOLS["packages"]) == set()


def test_every_data_file_matches_a_package_data_pattern() -> None:
    missing = []
    for package, folder in SETUPTOOLS["package-dir"].items():
        patterns = SETUPTOOLS["package-data"][package]
        for path in (REPO / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                relative = path.relative_to(REPO / folder).as_posix()
                if not any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(relative, p.removeprefix("**/"))
                           for p in patterns):
                    missing.append(f"{folder}/{relative}")
    assert not missing, missing
