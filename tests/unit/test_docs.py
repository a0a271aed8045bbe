"""Run the doctest examples of the pure modules (as sqlglot's tests/test_docs.py does)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["runner.config", "runner.errors", "runner.project", "runner.selection",
           "runner.templating"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
