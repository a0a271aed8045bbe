"""Compare a unit test's expected rows with the rows its model produced, and show the difference.

Rows are compared as multisets (order does not matter, duplicates do); floats match within a
relative 1e-6, so an expectation written with 7 significant digits passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from runner.value_text import format_literal

Row = tuple[Any, ...]
SHOWN_ROWS = 20  # per side of the diff; the rest is counted


@dataclass(frozen=True)
class RowDiff:
    """Expected rows no actual row matched, actual rows no expected row matched, matches."""

    missing: tuple[Row, ...]
    unexpected: tuple[Row, ...]
    matched: int

    @property
    def failures(self) -> int:
        return len(self.missing) + len(self.unexpected)


def values_equal(expected: Any, actual: Any) -> bool:
    """Whether two values match: floats within 1e-6 (relative), containers item by item.

    Example:
        >>> values_equal(0.3333333, 1 / 3), values_equal(0.333, 1 / 3)
        (True, False)
        >>> values_equal([1, None], [1, None]), values_equal({"a": 1.0}, {"a": 1})
        (True, True)
    """
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, float | Decimal) or isinstance(actual, float | Decimal):
        if not isinstance(expected, int | float | Decimal) or not isinstance(
            actual, int | float | Decimal
        ):
            return False
        a, b = float(expected), float(actual)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        return len(expected) == len(actual) and all(map(values_equal, expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            values_equal(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


def compare_rows(
    expected: Sequence[Row],
    actual: Sequence[Row],
    equal: Callable[[Any, Any], bool] = values_equal,
) -> RowDiff:
    """Pair every expected row with an equal actual row; what is left over is the difference.

    Example:
        >>> d = compare_rows([("a", 1), ("b", 2)], [("b", 2), ("a", 3)])
        >>> d.missing, d.unexpected, d.matched
        ((('a', 1),), (('a', 3),), 1)
    """
    left = list(actual)
    missing: list[Row] = []
    for row in expected:
        index = next(
            (i for i, other in enumerate(left)
             if len(other) == len(row) and all(map(equal, row, other))),
            None,
        )
        if index is None:
            missing.append(row)
        else:
            left.pop(index)
    return RowDiff(tuple(missing), tuple(left), len(expected) - len(missing))


def render_diff(columns: Sequence[str], diff: RowDiff, expected_rows: int) -> str:
    """The difference as an aligned table: `-` rows expected but missing, `+` rows not expected.

    Example:
        >>> print(render_diff(["user_id", "habit"], RowDiff((("MLB1", 1),), (("MLB1", 0),), 1), 2))
        1 of 2 expected rows missing, 1 unexpected row (compared: user_id, habit)
            user_id  habit
          - MLB1     1
          + MLB1     0
        - expected, not produced   + produced, not expected
    """
    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    head = (
        f"{len(diff.missing)} of {plural(expected_rows, 'expected row')} missing, "
        f"{plural(len(diff.unexpected), 'unexpected row')} (compared: {', '.join(columns)})"
    )
    marked = [("-", r) for r in _sorted(diff.missing)[:SHOWN_ROWS]]
    marked += [("+", r) for r in _sorted(diff.unexpected)[:SHOWN_ROWS]]
    cells = [[format_literal(v) for v in row] for _, row in marked]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(marker: str, values: Sequence[str]) -> str:
        padded = (v.ljust(w) for v, w in zip(values, widths, strict=True))
        return f"  {marker} " + "  ".join(padded).rstrip()

    lines = [head, line(" ", columns)]
    lines += [line(marker, row) for (marker, _), row in zip(marked, cells, strict=True)]
    hidden = max(len(diff.missing) - SHOWN_ROWS, 0) + max(len(diff.unexpected) - SHOWN_ROWS, 0)
    if hidden:
        lines.append(f"  ... and {hidden} more rows")
    lines.append("- expected, not produced   + produced, not expected")
    return "\n".join(lines)


def _sorted(rows: Sequence[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: [format_literal(v) for v in r])
