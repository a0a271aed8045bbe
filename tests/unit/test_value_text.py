"""The one set of value-to-text rules (runner.value_text), per formatter."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from runner.value_text import format_cell, format_literal, plain

AT = datetime(2022, 1, 3, 9, 30)


@pytest.mark.parametrize(
    ("value", "cell", "literal"),
    [
        (None, "null", "null"),
        (True, "true", "true"),
        (date(2022, 1, 3), "2022-01-03", "2022-01-03"),
        (AT, "2022-01-03T09:30:00", "2022-01-03 09:30:00"),  # a diff shows Spark's spelling
        (1234, "1234", "1234"),
        (0.1, "0.1", "0.1"),
        ("", "", "''"),  # a diff tells '' from null
        ("a\nb", "a\nb", "a\\nb"),  # and keeps a row on one line
        ([1, None], "[1, null]", "[1, null]"),
        ({"k": date(2022, 1, 3)}, "{k: 2022-01-03}", "{k: 2022-01-03}"),
        ({date(2022, 1, 3): 1}, "{2022-01-03: 1}", "{2022-01-03: 1}"),
    ],
)
def test_cell_and_literal(value: Any, cell: str, literal: str) -> None:
    assert format_cell(value) == cell
    assert format_literal(value) == literal


def test_plain_leaves_containers_to_str() -> None:
    assert plain([1, True]) == "[1, True]"
