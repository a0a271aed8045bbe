"""Cassandra tables for marts: names, Spark to CQL types, and CREATE/ALTER planning.

A mart's table follows from its Spark schema and its `partition_key`/`clustering_key` config
(`table_spec`). An existing table is evolved only by adding columns; any other change to the key
or to a column's type needs `--full-refresh` (`plan_alter`), which drops and recreates it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import types as T

from runner.cassandra.client import literal, quote
from runner.errors import Location, MaterializationError

if TYPE_CHECKING:
    from cassandra.cluster import Session

    from runner.config import CassandraTarget, ModelConfig

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,47}")

_SIMPLE_TYPES: dict[type[T.DataType], str] = {
    T.StringType: "text",
    T.IntegerType: "int",
    T.LongType: "bigint",
    T.ShortType: "smallint",
    T.ByteType: "tinyint",
    T.FloatType: "float",
    T.DoubleType: "double",
    T.BooleanType: "boolean",
    T.DateType: "date",
    T.TimestampType: "timestamp",
    T.BinaryType: "blob",
    T.DecimalType: "decimal",
}


@dataclass(frozen=True)
class TableSpec:
    """The Cassandra table a mart needs: columns with CQL types and the primary key."""

    keyspace: str
    name: str
    columns: tuple[tuple[str, str], ...]
    partition_key: tuple[str, ...]
    clustering: tuple[tuple[str, str], ...]  # (column, "asc" | "desc")

    @property
    def key_columns(self) -> tuple[str, ...]:
        return self.partition_key + tuple(c for c, _ in self.clustering)


def validate_identifier(name: str, what: str) -> str:
    """Check that `name` is a plain lowercase Cassandra name and return it.

    Args:
        name: keyspace, table or column name.
        what: what the name is, for the error message ("table", "column").

    Example:
        >>> validate_identifier("user_onboarding_metrics", "table")
        'user_onboarding_metrics'
    """
    if _IDENTIFIER.fullmatch(name):
        return name
    raise MaterializationError(
        f"invalid {what} name '{name}': Cassandra names must be lowercase letters, digits and _, "
        "start with a letter and have at most 48 characters",
        hint=f"rename the {what}, e.g. to '{_suggest_identifier(name)}'",
    )


def _suggest_identifier(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "x"
    if not cleaned[0].isalpha():
        cleaned = "c_" + cleaned
    return cleaned[:48]


def cql_type(spark_type: T.DataType) -> str:
    """The CQL column type for a Spark type. Arrays become sets: marts hold distinct values.

    Example:
        >>> cql_type(T.MapType(T.StringType(), T.DateType()))
        'map<text,date>'
        >>> cql_type(T.ArrayType(T.IntegerType()))
        'set<int>'
    """
    simple = _SIMPLE_TYPES.get(type(spark_type))
    if simple is not None:
        return simple
    if isinstance(spark_type, T.ArrayType):
        return f"set<{_element_type(spark_type.elementType)}>"
    if isinstance(spark_type, T.MapType):
        key = _element_type(spark_type.keyType)
        return f"map<{key},{_element_type(spark_type.valueType)}>"
    raise MaterializationError(
        f"Spark type {spark_type.simpleString()} has no Cassandra column type",
        hint="cast it to a supported type, flatten structs into columns, or use to_json()",
    )


def _element_type(spark_type: T.DataType) -> str:
    inner = cql_type(spark_type)
    return f"frozen<{inner}>" if isinstance(spark_type, (T.ArrayType, T.MapType)) else inner


def table_spec(
    schema: T.StructType, *, table: str, keyspace: str, config: ModelConfig, model_path: str
) -> TableSpec:
    """Derive the table of a mart from its Spark schema and its partition/clustering keys."""
    location = Location(model_path)
    columns = []
    for what, name, spark_type in [
        ("keyspace", keyspace, None),
        ("table", table, None),
        *(("column", f.name, f.dataType) for f in schema.fields),
    ]:
        try:
            validate_identifier(name, what)
            if spark_type is not None:
                columns.append((name, cql_type(spark_type)))
        except MaterializationError as exc:
            where = f"column '{name}': " if what == "column" and _IDENTIFIER.fullmatch(name) else ""
            raise MaterializationError(
                f"model '{table}': {where}{exc.message}", location=location, hint=exc.hint
            ) from None
    if not config.partition_key:
        raise MaterializationError(
            f"model '{table}' is materialized as cassandra but has no partition_key",
            location=location,
            hint="set partition_key (and optionally clustering_key) in the model's config",
        )
    clustering = tuple(_parse_clustering(entry, table, location) for entry in config.clustering_key)
    keys = [*config.partition_key, *(c for c, _ in clustering)]
    types = dict(columns)
    for key in keys:
        if key not in types:
            raise MaterializationError(
                f"model '{table}': key column '{key}' is not in the model's output",
                location=location,
                hint=f"fix partition_key/clustering_key; columns: {', '.join(types)}",
            )
        if "<" in types[key]:
            raise MaterializationError(
                f"model '{table}': key column '{key}' is a collection ({types[key]})",
                location=location,
                hint="use scalar columns in partition_key and clustering_key",
            )
    if len(set(keys)) != len(keys):
        raise MaterializationError(
            f"model '{table}': a column appears twice in partition_key/clustering_key",
            location=location,
            hint="list each key column once",
        )
    return TableSpec(keyspace, table, tuple(columns), tuple(config.partition_key), clustering)


def _parse_clustering(entry: str, table: str, location: Location) -> tuple[str, str]:
    parts = entry.split()
    if len(parts) == 1 or (len(parts) == 2 and parts[1].lower() in ("asc", "desc")):
        return parts[0], parts[1].lower() if len(parts) == 2 else "asc"
    raise MaterializationError(
        f"model '{table}': invalid clustering_key entry '{entry}'",
        location=location,
        hint="write 'column' or 'column desc'",
    )


def create_table_cql(spec: TableSpec) -> str:
    """CREATE TABLE for `spec`, every identifier quoted.

    Example:
        >>> columns = (("a", "text"), ("b", "int"), ("drop", "int"))
        >>> spec = TableSpec("ks", "t", columns, ("a",), (("b", "desc"),))
        >>> print(create_table_cql(spec))  # doctest: +NORMALIZE_WHITESPACE
        CREATE TABLE IF NOT EXISTS "ks"."t" ("a" text, "b" int, "drop" int,
          PRIMARY KEY (("a"), "b")) WITH CLUSTERING ORDER BY ("b" DESC)
    """
    columns = ", ".join(f"{quote(name)} {ctype}" for name, ctype in spec.columns)
    partition = ", ".join(quote(c) for c in spec.partition_key)
    key = ", ".join([f"({partition})", *(quote(c) for c, _ in spec.clustering)])
    cql = f"CREATE TABLE IF NOT EXISTS {table_ref(spec)} ({columns}, PRIMARY KEY ({key}))"
    if spec.clustering:
        order = ", ".join(f"{quote(c)} {o.upper()}" for c, o in spec.clustering)
        cql += f" WITH CLUSTERING ORDER BY ({order})"
    return cql


def table_ref(spec: TableSpec) -> str:
    """`"keyspace"."table"` of `spec`, for CQL statements."""
    return f"{quote(spec.keyspace)}.{quote(spec.name)}"


def _existing_columns(session: Session, spec: TableSpec) -> dict[str, tuple[str, int, str, str]]:
    """column → (kind, position, clustering order, type) of the existing table; {} if none."""
    rows = session.execute(
        "SELECT column_name, kind, position, clustering_order, type FROM system_schema.columns "
        "WHERE keyspace_name = %s AND table_name = %s",
        (spec.keyspace, spec.name),
    )
    return {r.column_name: (r.kind, r.position, r.clustering_order, r.type) for r in rows}


def _normalize_type(cql: str) -> str:
    return cql.replace(" ", "").lower()


def plan_alter(
    spec: TableSpec, existing: dict[str, tuple[str, int, str, str]], model_path: str
) -> list[tuple[str, str]]:
    """Columns to add to the existing table; raise if the change needs `--full-refresh`."""

    def incompatible(what: str) -> MaterializationError:
        return MaterializationError(
            f"model '{spec.name}': {what}; Cassandra cannot change this in place",
            location=Location(model_path),
            hint=f"rebuild with --full-refresh (drops and recreates {spec.keyspace}.{spec.name})",
        )

    def ordered(kind: str) -> list[tuple[str, str]]:
        cols = sorted((v[1], name, v[2]) for name, v in existing.items() if v[0] == kind)
        return [(name, order) for _, name, order in cols]

    old_partition = tuple(name for name, _ in ordered("partition_key"))
    old_clustering = tuple(ordered("clustering"))
    if old_partition != spec.partition_key or old_clustering != spec.clustering:
        old = key_text(old_partition, old_clustering)
        raise incompatible(
            f"primary key changed from {old} to {key_text(spec.partition_key, spec.clustering)}"
        )
    wanted = dict(spec.columns)
    for name, (_, _, _, old_type) in existing.items():
        if name not in wanted:
            raise incompatible(f"column '{name}' was removed")
        if _normalize_type(old_type) != _normalize_type(wanted[name]):
            raise incompatible(f"column '{name}' changed type from {old_type} to {wanted[name]}")
    return [(name, ctype) for name, ctype in spec.columns if name not in existing]


def key_text(partition: Sequence[str], clustering: Sequence[tuple[str, str]]) -> str:
    """A primary key as error messages show it.

    Example:
        >>> key_text(["segment", "ab_group"], [("stage", "desc")])
        '((segment, ab_group), stage desc)'
    """
    rest = "".join(f", {c}" + (" desc" if o == "desc" else "") for c, o in clustering)
    return f"(({', '.join(partition)}){rest})"



def prepare_table(
    session: Session,
    spec: TableSpec,
    target: CassandraTarget,
    full_refresh: bool,
    model_path: str,
) -> bool:
    """Create the keyspace and table, or evolve the table (drop it first with `full_refresh`).

    Returns:
        Whether the table existed before, so it may hold rows of the last build.
    """
    replication = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in target.replication.items())
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {quote(spec.keyspace)} WITH replication = {{{replication}}}"
    )
    existing = _existing_columns(session, spec)
    if existing and full_refresh:
        session.execute(f"DROP TABLE IF EXISTS {table_ref(spec)}")
        existing = {}
    if not existing:
        session.execute(create_table_cql(spec))
        return False
    if added := plan_alter(spec, existing, model_path):
        columns = ", ".join(f"{quote(name)} {ctype}" for name, ctype in added)
        session.execute(f"ALTER TABLE {table_ref(spec)} ADD ({columns})")
    return True
