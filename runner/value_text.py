"""How a collected value reads as text: null, true/false, ISO dates, [a, b] lists, {k: v} maps.

The one home of these rules for the runner's output: `runner show` and `explain-user` tables
(`format_cell`), `runner diff`'s key values under its typed wording (`runner.diff_words`), a
unit test's difference and the text it gives a string column (`runner.datatests`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


def plain(value: Any, *, datetime_sep: str = "T") -> str:
    """A scalar: null, true/false, ISO dates, else str().

    Args:
        value: a collected value.
        datetime_sep: between date and time of a timestamp; " " reads as Spark prints it.

    Example:
        >>> plain(None), plain(False), plain(date(2022, 1, 3)), plain(2.5)
        ('null', 'false', '2022-01-03', '2.5')
        >>> plain(datetime(2022, 1, 3, 9, 30), datetime_sep=" ")
        '2022-01-03 09:30:00'
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=datetime_sep)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def format_cell(value: Any) -> str:
    """A value in a terminal table: null, true/false, ISO dates, {k: v} maps.

    Example:
        >>> format_cell({"activation": date(2022, 1, 4)}), format_cell(None), format_cell(True)
        ('{activation: 2022-01-04}', 'null', 'true')
    """
    if value is None or isinstance(value, bool | date | datetime):
        return plain(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_cell(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_cell(v) for v in value) + "]"
    return str(value)


def format_literal(value: Any) -> str:
    """A value where null, '' and a line break must be told apart (a unit test's difference).

    Example:
        >>> format_literal(None), format_literal(""), format_literal(datetime(2022, 1, 1, 8))
        ('null', "''", '2022-01-01 08:00:00')
        >>> format_literal([1, 2.5]), format_literal({"k": "a\\nb"})
        ('[1, 2.5]', '{k: a\\\\nb}')
    """
    if value is None or isinstance(value, bool | date | datetime):
        return plain(value, datetime_sep=" ")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{format_literal(k)}: {format_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if value == "":
        return "''"
    return str(value).replace("\n", "\\n")
