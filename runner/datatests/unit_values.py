"""Fixture values of unit tests: rows written in YAML or CSV, their values checked against Spark
column types, and the rows of an input written as an inline SQL relation.

An inline `VALUES` relation is a local relation to Spark: no RDD, no Python worker, no file, so
an input costs only its planning. Every literal carries its column's exact type.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from runner.project import normalize_name
from runner.value_text import plain

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType

_INT_TYPES = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64}
_TRUE = {"true", "1", "t", "yes", "y"}
_FALSE = {"false", "0", "f", "no", "n"}
_SPECIAL_FLOATS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


@dataclass(frozen=True)
class FixtureRow:
    """One row as written: value by lower-case column name (YAML values, or CSV text/None)."""

    values: Mapping[str, Any]
    line: int | None


def parse_csv(text: str, first_line: int | None) -> tuple[FixtureRow, ...]:
    """Rows of CSV text with a header line; an empty field is NULL, as Spark reads CSV.

    Raises:
        ValueError: (message, line) for a record whose field count differs from the header's.

    Example:
        >>> [r.values for r in parse_csv("user_id,rubro\\nMLB1,\\n", 10)]
        [{'user_id': 'MLB1', 'rubro': None}]
        >>> parse_csv("a\\n1\\n", 10)[0].line
        11
    """
    reader = csv.reader(io.StringIO(text.strip("\n")))
    header = [normalize_name(h) for h in next(reader, [])]
    rows = []
    for record in reader:
        if not record:
            continue
        line = first_line + reader.line_num - 1 if first_line is not None else None
        if len(record) != len(header):
            raise ValueError(
                f"CSV record {reader.line_num - 1} has {len(record)} fields, the header "
                f"{len(header)} ({', '.join(header)})", line,
            )
        values = {h: (v if v != "" else None) for h, v in zip(header, record, strict=True)}
        rows.append(FixtureRow(values, line))
    return tuple(rows)


def to_value(value: Any, dtype: DataType) -> Any:
    """`value` (as YAML or CSV gave it) as the Python value of a Spark column of type `dtype`.

    Strings are accepted for every scalar type (CSV fixtures only have strings).

    Raises:
        ValueError: saying what the type accepts.

    Example:
        >>> from pyspark.sql.types import ArrayType, DateType, IntegerType, StringType
        >>> to_value("2022-01-05", DateType()), to_value(8.0, IntegerType())
        (datetime.date(2022, 1, 5), 8)
        >>> to_value(date(2022, 1, 5), StringType()), to_value(["1", 2], ArrayType(IntegerType()))
        ('2022-01-05', [1, 2])
    """
    if value is None:
        return None
    name = dtype.typeName()
    if name in ("string", "varchar", "char"):
        return _to_text(value)
    if dtype.simpleString() in _INT_TYPES:
        return _to_int(value, _INT_TYPES[dtype.simpleString()])
    if name in ("double", "float"):
        return _to_float(value)
    if name == "decimal":
        return _to_decimal(value)
    if name == "boolean":
        return _to_bool(value)
    if name == "date":
        return _to_date(value)
    if name in ("timestamp", "timestamp_ntz"):
        return _to_timestamp(value)
    if name == "array":
        if not isinstance(value, list):
            raise ValueError(f"must be a list for {dtype.simpleString()}")
        return [to_value(v, dtype.elementType) for v in value]  # type: ignore[attr-defined]
    if name == "map":
        if not isinstance(value, dict):
            raise ValueError(f"must be a mapping for {dtype.simpleString()}")
        return {to_value(k, dtype.keyType): to_value(v, dtype.valueType)  # type: ignore[attr-defined]
                for k, v in value.items()}
    if name == "struct":
        if not isinstance(value, dict):
            raise ValueError(f"must be a mapping for {dtype.simpleString()}")
        fields = {f.name.lower(): f for f in dtype.fields}  # type: ignore[attr-defined]
        unknown = [k for k in value if str(k).lower() not in fields]
        if unknown:
            raise ValueError(f"has no field '{unknown[0]}' ({dtype.simpleString()})")
        given = {str(k).lower(): v for k, v in value.items()}
        return {f.name: to_value(given.get(key), f.dataType) for key, f in fields.items()}
    if name == "void":
        raise ValueError("must be null (the column is always NULL)")
    raise ValueError(f"cannot be given for a column of type {dtype.simpleString()}")


def _to_text(value: Any) -> str:
    if isinstance(value, list | dict):
        raise ValueError("must be text, not a list or mapping")
    return plain(value, datetime_sep=" ")  # as Spark casts a boolean or timestamp to string


def _to_int(value: Any, bits: int) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true/false")
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(\.0*)?\s*", value):
        number = int(value.strip().split(".")[0])
    else:
        raise ValueError("must be a whole number")
    if not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
        raise ValueError(f"is out of range for a {bits}-bit integer")
    return number


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("must be a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError("must be a number") from None


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("must be a number")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("must be a number") from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError("must be true or false")


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        if value.time() != time():
            raise ValueError("must be a date (YYYY-MM-DD), not a time of day")
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError("must be a date YYYY-MM-DD") from None


def _to_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = str(value).strip()
    # Python takes at most 6 fractional digits; Spark keeps microseconds too
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise ValueError("must be a timestamp YYYY-MM-DD HH:MM:SS[.ffffff]") from None


def sql_literal(value: Any, dtype: DataType) -> str:
    """A Spark SQL literal of exactly type `dtype` for a value `to_value` returned.

    Example:
        >>> from pyspark.sql.types import ArrayType, DateType, IntegerType, StringType
        >>> sql_literal("it's", StringType()), sql_literal(None, DateType())
        ("'it\\\\'s'", 'CAST(NULL AS date)')
        >>> sql_literal([1, 2], ArrayType(IntegerType()))
        'CAST(array(CAST(1 AS int), CAST(2 AS int)) AS array<int>)'
    """
    type_sql = dtype.simpleString()
    if value is None:
        return f"CAST(NULL AS {type_sql})"
    name = dtype.typeName()
    if name in ("string", "varchar", "char"):
        return _string(value)
    if type_sql in _INT_TYPES:
        return f"CAST({value} AS {type_sql})"
    if name == "decimal":
        return f"CAST('{value}' AS {type_sql})"
    if name in ("double", "float"):
        text = repr(value) if math.isfinite(value) else _SPECIAL_FLOATS[str(value)]
        return f"CAST('{text}' AS {type_sql})"
    if name == "boolean":
        return "TRUE" if value else "FALSE"
    if name == "date":
        return f"DATE'{value.isoformat()}'"
    if name == "timestamp":
        return f"TIMESTAMP'{value.isoformat(sep=' ')}'"
    if name == "timestamp_ntz":
        return f"TIMESTAMP_NTZ'{value.isoformat(sep=' ')}'"
    if name == "array":
        items = ", ".join(sql_literal(v, dtype.elementType) for v in value)  # type: ignore[attr-defined]
        return f"CAST(array({items}) AS {type_sql})"
    if name == "map":
        pairs = ", ".join(
            f"{sql_literal(k, dtype.keyType)}, {sql_literal(v, dtype.valueType)}"  # type: ignore[attr-defined]
            for k, v in value.items()
        )
        return f"CAST(map({pairs}) AS {type_sql})"
    if name == "struct":
        parts = ", ".join(
            f"{_string(f.name)}, {sql_literal(value.get(f.name), f.dataType)}"
            for f in dtype.fields  # type: ignore[attr-defined]
        )
        return f"CAST(named_struct({parts}) AS {type_sql})"
    raise ValueError(f"no literal for type {type_sql}")


def _string(text: str) -> str:
    for char, escape in (("\\", "\\\\"), ("'", "\\'"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(char, escape)
    return f"'{text}'"


def quote_name(name: str) -> str:
    """A column or view name as a Spark identifier.

    Example:
        >>> quote_name("return"), quote_name("a`b")
        ('`return`', '`a``b`')
    """
    return "`" + name.replace("`", "``") + "`"


def relation_sql(schema: StructType, rows: Sequence[Mapping[str, Any]]) -> str:
    """A SELECT of `rows` (typed values by lower-case column name) with exactly `schema`'s
    columns and types; a column a row does not give is NULL.

    Example:
        >>> from pyspark.sql.types import IntegerType, StringType, StructField, StructType
        >>> schema = StructType([StructField("id", StringType()), StructField("n", IntegerType())])
        >>> relation_sql(schema, [{"id": "a"}])
        "SELECT * FROM VALUES ('a', CAST(NULL AS int)) AS t(`id`, `n`)"
        >>> relation_sql(schema, [])
        'SELECT CAST(NULL AS string) AS `id`, CAST(NULL AS int) AS `n` WHERE FALSE'
    """
    if not rows:
        nulls = ", ".join(
            f"{sql_literal(None, f.dataType)} AS {quote_name(f.name)}" for f in schema.fields
        )
        return f"SELECT {nulls} WHERE FALSE"
    values = ", ".join(
        "(" + ", ".join(sql_literal(row.get(f.name.lower()), f.dataType) for f in schema.fields)
        + ")"
        for row in rows
    )
    names = ", ".join(quote_name(f.name) for f in schema.fields)
    return f"SELECT * FROM VALUES {values} AS t({names})"
