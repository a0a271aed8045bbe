"""Run the doctest examples of every module of the package (as sqlglot's tests/test_docs.py does).

Modules are found, not listed, so a new module's examples run without anyone remembering to add
them; one whose examples never run cannot be skipped by accident.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import runner

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(runner.__path__, prefix="runner.")
    if not m.name.endswith("__main__")
)


def test_modules_found():
    assert "runner.paths" in MODULES and "runner.cassandra.client" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
