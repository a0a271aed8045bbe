"""Understand compiled SQL with sqlglot (Spark dialect) before any Spark work starts."""

from __future__ import annotations

import sqlglot
from sqlglot.errors import ParseError, TokenError

from runner.errors import Location, SqlSyntaxError
from runner.templating import CompiledModel

DIALECT = "spark"
MAX_REPORTED = 10


def check_syntax(model: CompiledModel, raw_sql: str) -> None:
    """Parse one compiled model; raise SqlSyntaxError at the line:col of the `.sql` file."""
    try:
        statements = sqlglot.parse(model.sql, read=DIALECT)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line = first.get("line") or 1
        col = first.get("col")
        desc = first.get("description") or str(exc)
        raise SqlSyntaxError(
            f"SQL syntax error in model {model.name}: {desc}",
            location=Location(model.path, model.source_line(line), col),
            source=raw_sql,
            hint=f"compiled SQL: {model.compiled_path}",
        ) from exc
    except TokenError as exc:
        raise SqlSyntaxError(
            f"SQL syntax error in model {model.name}: {exc}",
            location=Location(model.path),
            hint=f"compiled SQL: {model.compiled_path}",
        ) from exc
    real = [s for s in statements if s is not None]
    if len(real) != 1:
        raise SqlSyntaxError(
            f"model {model.name} must be exactly one SELECT statement, found {len(real)}",
            location=Location(model.path),
            hint="remove trailing statements or semicolons",
        )


def check_all(models: list[tuple[CompiledModel, str]]) -> list[SqlSyntaxError]:
    """Check every model and return all errors (the CLI shows the first few, then a count)."""
    errors: list[SqlSyntaxError] = []
    for model, raw in models:
        try:
            check_syntax(model, raw)
        except SqlSyntaxError as err:
            errors.append(err)
    return errors


def concat_errors(errors: list[SqlSyntaxError], limit: int = MAX_REPORTED) -> SqlSyntaxError:
    """One error that lists the first `limit` messages, then '... and N more'."""
    text = "\n\n".join(str(e) for e in errors[:limit])
    if len(errors) > limit:
        text += f"\n\n... and {len(errors) - limit} more"
    return SqlSyntaxError(f"{len(errors)} model(s) do not parse:\n\n{text}")
