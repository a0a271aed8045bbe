"""Generic data tests: one function per test, from a model and column to the SQL of failing rows.

`GENERIC_TESTS` is the registry YAML names resolve against (a user macro `test_<name>` wins).
Each function takes the relation (a table name, or a parenthesized subquery when the test has a
`where`), the column (None for a model-level test) and the test's own keyword arguments, and
raises TypeError for a declaration it cannot use.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

DIALECT = "spark"
_PREDICATE = re.compile(
    r"^\s*(=|<|>|!|(is|in|between|like|rlike|ilike)\b|not\s+(in|between|like|rlike|ilike)\b)",
    re.IGNORECASE,
)

# fn(model, column_name, **arguments) -> SQL selecting the failing rows of `model`; each
# function declares its own keyword arguments, which YAML entries are checked against.
GenericTestFn = Callable[..., str]


def not_null(model: str, column_name: str | None) -> str:
    return f"select * from {model} where {not_null_failing(column_name)}"


def not_null_failing(column_name: str | None) -> str:
    return f"{quote_column(_need_column(column_name))} is null"


def unique(model: str, column_name: str | None) -> str:
    col = quote_column(_need_column(column_name))
    return (
        f"select {col} as unique_field, count(*) as n_records from {model}\n"
        f"where {col} is not null group by {col} having count(*) > 1"
    )


def unique_combination_of_columns(
    model: str, column_name: str | None = None, *, combination_of_columns: list[str]
) -> str:
    cols = ", ".join(quote_column(c) for c in _need_list(combination_of_columns, "columns"))
    return f"select {cols}, count(*) as n_records from {model}\ngroup by {cols} having count(*) > 1"


def accepted_values(
    model: str, column_name: str | None, *, values: list[Any], quote: bool = True
) -> str:
    col = quote_column(_need_column(column_name))
    return (
        f"select {col} as value_field, count(*) as n_records from {model}\n"
        f"where {accepted_values_failing(column_name, values=values, quote=quote)} group by {col}"
    )


def accepted_values_failing(
    column_name: str | None, *, values: list[Any], quote: bool = True
) -> str:
    col = quote_column(_need_column(column_name))
    items = _need_list(values, "values")
    literals = ", ".join(to_literal(v) if quote else str(v) for v in items)
    return f"{col} is not null and {col} not in ({literals})"


def relationships(model: str, column_name: str | None, *, to: str, field: str) -> str:
    col = quote_column(_need_column(column_name))
    return (
        f"select * from {model} as child\nwhere child.{col} is not null and not exists "
        f"(select 1 from {to} as parent where parent.{quote_column(field)} = child.{col})"
    )


def expression(model: str, column_name: str | None = None, *, expression: str) -> str:
    """Rows where `expression` is false; NULL passes, as in dbt_utils.expression_is_true.

    On a column, an expression that is not a whole condition (`>= 0`) is applied to the column.
    """
    return f"select * from {model} where {expression_failing(column_name, expression=expression)}"


def expression_failing(column_name: str | None = None, *, expression: str) -> str:
    condition = expression
    if column_name and not _is_condition(expression):
        condition = f"{quote_column(column_name)} {expression}"
    return f"not ({condition})"


GENERIC_TESTS: dict[str, GenericTestFn] = {
    "not_null": not_null,
    "unique": unique,
    "unique_combination_of_columns": unique_combination_of_columns,
    "accepted_values": accepted_values,
    "relationships": relationships,
    "expression": expression,
}



@dataclass(frozen=True)
class FailureCount:
    """How one scan of a model counts a test's failing rows, as its own query would.

    The rows meeting `condition` count; with `distinct`, the distinct values of that expression
    among them (a grouped test returns one row per value); with `partition`, only rows whose
    group (same values of those expressions) has more than one row meeting the condition.
    """

    condition: str
    distinct: str | None = None
    partition: tuple[str, ...] = ()

    def where(self, where: str | None) -> FailureCount:
        """The count restricted to the rows of a test's `where` config."""
        if not where:
            return self
        return FailureCount(f"({where}) and ({self.condition})", self.distinct, self.partition)


def not_null_count(column_name: str | None) -> FailureCount:
    return FailureCount(not_null_failing(column_name))


def unique_count(column_name: str | None) -> FailureCount:
    col = quote_column(_need_column(column_name))
    return FailureCount(f"{col} is not null", distinct=col, partition=(col,))


def unique_combination_count(
    column_name: str | None = None, *, combination_of_columns: list[str]
) -> FailureCount:
    # a struct keeps NULLs as a value, as the test's GROUP BY does (count(distinct a, b) skips them)
    cols = tuple(quote_column(c) for c in _need_list(combination_of_columns, "columns"))
    return FailureCount("true", distinct=f"struct({', '.join(cols)})", partition=cols)


def accepted_values_count(
    column_name: str | None, *, values: list[Any], quote: bool = True
) -> FailureCount:
    condition = accepted_values_failing(column_name, values=values, quote=quote)
    return FailureCount(condition, distinct=quote_column(_need_column(column_name)))


def expression_count(column_name: str | None = None, *, expression: str) -> FailureCount:
    return FailureCount(expression_failing(column_name, expression=expression))


# kind -> fn(column_name, **arguments) -> how one scan of the model counts the test's failing
# rows (see one_pass.py); relationships reads a second model, which may not be built yet when
# the first test of its own model runs, so it keeps its own query.
FAILURE_COUNTS: dict[str, Callable[..., FailureCount]] = {
    "not_null": not_null_count,
    "unique": unique_count,
    "unique_combination_of_columns": unique_combination_count,
    "accepted_values": accepted_values_count,
    "expression": expression_count,
}


def quote_column(name: str) -> str:
    """Backquote a plain column name; leave an expression (`lower(email)`) as written.

    Example:
        >>> quote_column("check"), quote_column("lower(email)")
        ('`check`', 'lower(email)')
    """
    return f"`{name}`" if re.fullmatch(r"\w+", name) else name


def to_literal(value: Any) -> str:
    """A Spark SQL literal for a YAML value.

    Example:
        >>> to_literal("it's"), to_literal(3), to_literal(True)
        ("'it\\\\'s'", '3', 'TRUE')
    """
    return exp.convert(value).sql(DIALECT)


def _is_condition(text: str) -> bool:
    """False for a column predicate that lacks its column (`>= 0`, `is not null`, `in (1, 2)`).

    Example:
        >>> [_is_condition(t) for t in ["rate between 0 and 1", ">= 0", "not in (1)", "not x"]]
        [True, False, False, True]
    """
    return not _PREDICATE.match(text)


def _need_column(column_name: str | None) -> str:
    if not column_name:
        raise TypeError("it must be declared under a column (or given column_name:)")
    return column_name


def _need_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list | tuple) or not value:
        raise TypeError(f"{what} must be a non-empty list")
    return list(value)
