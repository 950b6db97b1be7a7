"""The README's settings table lists exactly the RUNBOARD_ variables the code reads."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("backend", "worker", "runboard")  # the packages that ship
NAME = re.compile(r"RUNBOARD_[A-Z0-9_]+")
ROW = re.compile(r"^\| `(RUNBOARD_[A-Z0-9_]+)` \|", re.MULTILINE)


def _sources() -> list[Path]:
    return [path for package in PRODUCT for path in sorted((REPO / package).rglob("*.py"))]


def settings_classes() -> list[type[BaseSettings]]:
    """Every pydantic-settings class the product defines, found in its source."""
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            bases = [
                getattr(base, "id", getattr(base, "attr", ""))
                for base in getattr(node, "bases", [])
            ]
            if isinstance(node, ast.ClassDef) and "BaseSettings" in bases:
                module = ".".join(path.relative_to(REPO).with_suffix("").parts)
                found.append(getattr(importlib.import_module(module), node.name))
    return found


def variables_read() -> set[str]:
    """Each settings field under its prefix, and every name the code spells out."""
    names: set[str] = set()
    for settings in settings_classes():
        prefix = settings.model_config.get("env_prefix", "")
        names |= {f"{prefix}{field}".upper() for field in settings.model_fields}
    for path in _sources():
        names |= set(NAME.findall(path.read_text()))
    return names


def test_the_settings_classes_are_found_and_read_runboard_variables() -> None:
    classes = settings_classes()
    assert {cls.__name__ for cls in classes} >= {"Settings"}
    assert all(cls.model_config.get("env_prefix") == "RUNBOARD_" for cls in classes)


def test_the_readme_table_lists_every_variable_the_code_reads_and_no_other() -> None:
    documented = ROW.findall((REPO / "README.md").read_text())

    assert len(documented) == len(set(documented)), "a variable is listed twice"
    assert sorted(variables_read() - set(documented)) == [], "read but not in the README"
    assert sorted(set(documented) - variables_read()) == [], "in the README but never read"
