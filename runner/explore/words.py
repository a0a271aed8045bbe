"""How a changed mart value reads to an analyst: `activation_rate, sellers: 48.4% → 47.9%`.

The column's Arrow type and name decide: rates and shares (`*_rate`, `rate_*`, `*_share`,
`*_lift`, ...) as %, integers with separators, booleans as true/false, dates in ISO.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from runner.value_text import plain

PERCENT = re.compile(r"(^|_)(rates?|share|pct|percent|lift|ratio)(_|$)")


def format_value(value: Any, column: str, type_: pa.DataType, digits: int = 1) -> str:
    """A value as an analyst reads it: rates and shares as %, counts with separators, booleans
    as true/false; `digits` is the precision of a rate (significant digits: +3 otherwise).

    Example:
        >>> format_value(0.4837, "activation_rate", pa.float64())
        '48.4%'
        >>> format_value(12345, "users", pa.int64()), format_value(True, "significant", pa.bool_())
        ('12,345', 'true')
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "null"
    if pa.types.is_boolean(type_):
        return "true" if value else "false"
    if pa.types.is_floating(type_):
        if PERCENT.search(column):
            return f"{value * 100:.{digits}f}%"
        return f"{value:.{digits + 3}g}"
    if pa.types.is_integer(type_):
        return f"{value:,}"
    if pa.types.is_map(type_):
        return "{" + ", ".join(f"{k}: {plain(v)}" for k, v in value) + "}"
    return plain(value)


def format_change(column: str, key: Sequence[Any], before: Any, after: Any,
                  type_: pa.DataType) -> str:
    """`column, key values: before → after`, with enough digits to tell the two apart.

    Example:
        >>> format_change("habit", ["sellers", "significant"], False, True, pa.bool_())
        'habit, sellers, significant: false → true'
        >>> format_change("drop_rate", ["all"], 0.41231, 0.41234, pa.float64())
        'drop_rate, all: 41.231% → 41.234%'
    """
    for digits in (1, 2, 3, 4, 6, 9):
        old, new = (format_value(v, column, type_, digits) for v in (before, after))
        if old != new:
            break
    label = ", ".join([column, *(plain(k) for k in key)])
    return f"{label}: {old} → {new}"
