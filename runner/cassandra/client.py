"""Cassandra marts: driver sessions, table DDL from the model's keys, and a refresh without a gap.

`write_mart` never truncates. It upserts every new row through spark-cassandra-connector first,
then deletes only the keys that the new result no longer has, so readers always see either the
previous or the new version of each row, and a failed write leaves the previous rows in place.
Given the rows the table holds from the last build (`previous`), it upserts only the rows that
changed since, and finds the keys to delete there instead of scanning the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F
from pyspark.sql import types as T

from runner.config import CASSANDRA_PASSWORD_ENV, CASSANDRA_USER_ENV
from runner.errors import (
    ExecutionError,
    Location,
    MaterializationError,
    RunnerError,
    ServiceError,
    scrub_secrets,
)

if TYPE_CHECKING:
    from cassandra.cluster import Session
    from pyspark.sql import DataFrame, SparkSession

    from runner.config import CassandraTarget, ModelConfig

CONNECTOR_FORMAT = "org.apache.spark.sql.cassandra"
CATALOG = "cass"
DELETE_CONCURRENCY = 64
DELETE_CHUNK = 10_000
DELETE_BATCH_ROWS = 40  # row deletes of one partition per batch, under the 5 KiB batch warning

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


def quote(name: str) -> str:
    """Double-quote a CQL identifier, so reserved words such as `drop` work as names.

    Example:
        >>> quote("drop")
        '"drop"'
    """
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def open_session(
    hosts: Sequence[str],
    port: int,
    login: tuple[str, str] | None,
    timeout: float,
    local_dc: str | None = None,
) -> Session:
    """Connect a cassandra-driver session, or raise ServiceError naming the host and port.

    Args:
        hosts: contact points.
        port: CQL native port.
        login: (username, password), or None without authentication.
        timeout: seconds allowed for each connection attempt and for requests.
        local_dc: datacenter the load-balancing policy prefers.
    """
    from cassandra import AuthenticationFailed, DriverException, UnresolvableContactPoints
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc)),
        request_timeout=max(timeout, 30.0),
    )
    where = ", ".join(f"{host}:{port}" for host in hosts)
    secrets: list[str | None] = [login[1]] if login else []
    try:
        cluster = Cluster(
            contact_points=list(hosts),
            port=port,
            auth_provider=PlainTextAuthProvider(*login) if login else None,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=timeout,
            control_connection_timeout=timeout,
            protocol_version=5,
        )
    except UnresolvableContactPoints:
        raise ServiceError(
            f"cannot resolve the Cassandra host name(s) {', '.join(hosts)}",
            hint="fix cassandra.hosts in profiles.yml",
        ) from None
    try:
        return cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        causes = list((exc.errors or {}).values())
        if any(isinstance(c, AuthenticationFailed) for c in causes):
            if login is None:
                raise ServiceError(
                    f"Cassandra at {where} requires authentication",
                    hint=f"set cassandra.username/password in profiles.yml or "
                    f"${CASSANDRA_USER_ENV} and ${CASSANDRA_PASSWORD_ENV}",
                ) from None
            raise ServiceError(
                f"Cassandra authentication failed for user '{login[0]}' at {where}",
                hint=f"check the username and password (profiles.yml, ${CASSANDRA_USER_ENV}, "
                f"${CASSANDRA_PASSWORD_ENV})",
            ) from None
        reason = "; ".join(sorted({_first_line(str(c)) for c in causes})) or str(exc)
        raise ServiceError(
            f"cannot reach Cassandra at {where}: {scrub_secrets(reason, secrets)}",
            hint="start it (`runner up` starts the managed dev node) or fix "
            "cassandra.hosts/port in profiles.yml",
        ) from None
    except (DriverException, OSError) as exc:
        cluster.shutdown()
        raise ServiceError(
            f"cannot connect to Cassandra at {where}: {scrub_secrets(str(exc), secrets)}",
            hint="check cassandra.hosts/port in profiles.yml",
        ) from None


def connect(target: CassandraTarget) -> Session:
    """Open a driver session to `target`; errors name host:port and never contain the password.

    The caller closes it with `session.cluster.shutdown()`.
    """
    user, password = target.credentials()
    login = (user, password or "") if user else None
    return open_session(target.hosts, target.port, login, target.connect_timeout, target.local_dc)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else text


def _consistency(target: CassandraTarget) -> str:
    """LOCAL_ONE when there is one replica (a dev node), else LOCAL_QUORUM."""
    factors = [int(v) for k, v in target.replication.items() if k != "class" and str(v).isdigit()]
    return "LOCAL_ONE" if max(factors, default=1) <= 1 else "LOCAL_QUORUM"


def connector_options(target: CassandraTarget) -> dict[str, str]:
    """spark-cassandra-connector settings that say where and how to connect and write.

    They go into the Spark conf and into every read and write, so a write reaches `target`
    whatever the session was built with.
    """
    options = {
        "spark.cassandra.connection.host": ",".join(target.hosts),
        "spark.cassandra.connection.port": str(target.port),
        "spark.cassandra.connection.timeoutMS": str(int(target.connect_timeout * 1000)),
        "spark.cassandra.output.consistency.level": _consistency(target),
        "spark.cassandra.input.consistency.level": "LOCAL_ONE",
        # Marts have about one row per partition: batches of rows bound for the same replicas
        # (unlogged, under Cassandra's 5 KiB warning) instead of one request per row. Measured,
        # 300 k rows of user_onboarding_metrics to a local node: 14 s instead of 21 s.
        "spark.cassandra.output.batch.grouping.key": "replica_set",
        "spark.cassandra.output.batch.size.bytes": "4096",
        "spark.cassandra.output.concurrent.writes": "16",
    }
    if target.local_dc:
        options["spark.cassandra.connection.localDC"] = target.local_dc
    user, password = target.credentials()
    if user:
        options["spark.cassandra.auth.username"] = user
        options["spark.cassandra.auth.password"] = password or ""
    return options


def connector_spark_conf(target: CassandraTarget, jars: Path | Iterable[Path]) -> dict[str, str]:
    """Spark settings for spark-cassandra-connector: jars, the `cass` catalog, connection, writes.

    Args:
        target: the Cassandra to connect to.
        jars: the connector jar files, or the folder holding them.

    Returns:
        `spark.*` settings. The password is only in `spark.cassandra.auth.password`, which
        Spark redacts in its UI, logs and plans.
    """
    if isinstance(jars, Path):
        jars = sorted(jars.glob("*.jar")) if jars.is_dir() else [jars]
    return {
        "spark.jars": ",".join(str(p) for p in sorted(Path(p) for p in jars)),
        "spark.sql.extensions": "com.datastax.spark.connector.CassandraSparkExtensions",
        f"spark.sql.catalog.{CATALOG}": "com.datastax.spark.connector.datasource.CassandraCatalog",
        **connector_options(target),
    }


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
    cql = f"CREATE TABLE IF NOT EXISTS {_table_ref(spec)} ({columns}, PRIMARY KEY ({key}))"
    if spec.clustering:
        order = ", ".join(f"{quote(c)} {o.upper()}" for c, o in spec.clustering)
        cql += f" WITH CLUSTERING ORDER BY ({order})"
    return cql


def _table_ref(spec: TableSpec) -> str:
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
        old = _key_text(old_partition, old_clustering)
        raise incompatible(
            f"primary key changed from {old} to {_key_text(spec.partition_key, spec.clustering)}"
        )
    wanted = dict(spec.columns)
    for name, (_, _, _, old_type) in existing.items():
        if name not in wanted:
            raise incompatible(f"column '{name}' was removed")
        if _normalize_type(old_type) != _normalize_type(wanted[name]):
            raise incompatible(f"column '{name}' changed type from {old_type} to {wanted[name]}")
    return [(name, ctype) for name, ctype in spec.columns if name not in existing]


def _key_text(partition: Sequence[str], clustering: Sequence[tuple[str, str]]) -> str:
    rest = "".join(f", {c}" + (" desc" if o == "desc" else "") for c, o in clustering)
    return f"(({', '.join(partition)}){rest})"


@dataclass(frozen=True)
class MartWrite:
    rows: int  # rows of the mart
    upserted: int | None  # rows sent to Cassandra; None: all of them


def write_mart(
    df: DataFrame,
    *,
    table: str,
    config: ModelConfig,
    target: CassandraTarget,
    full_refresh: bool,
    model_path: str,
    stable: bool = False,
    previous: DataFrame | None = None,
) -> MartWrite:
    """Store a mart in `target.keyspace`.`table` without a gap for readers.

    The keyspace and table are created when missing, new columns are added; a changed key or
    type needs `full_refresh`, which drops and recreates the table. Rows are upserted first,
    then only keys that disappeared from the result are deleted (whole partitions where possible).

    Args:
        df: the mart's rows.
        table: table name (the model name).
        config: the model's config with `partition_key` and `clustering_key`.
        target: where to write.
        full_refresh: drop and recreate the table first.
        model_path: the model's file, for error locations.
        stable: `df` reads data that cannot change while it is written (the staged Parquet of
            a mart), so it is read as is instead of cached first.
        previous: the rows the table holds now, as the last build wrote them (its Parquet copy),
            with the same schema; used only when the table existed and no full refresh is asked.
    """
    spec = table_spec(
        df.schema, table=table, keyspace=target.keyspace, config=config, model_path=model_path
    )
    where = f"{spec.keyspace}.{spec.name}"
    fail = _Failures(spec.name, model_path, [target.credentials()[1]])
    # Pin the rows once: the key check, the write and the anti-join must see the same data.
    cached = not stable and not df.storageLevel.useMemory
    if cached:
        df = df.persist()
    try:
        with fail.translate(ExecutionError, "computing the model", "fix the model's SQL"):
            rows = _check_keys(df, spec, model_path)
        session = connect(target)
        try:
            existed = _prepare_table(session, spec, target, full_refresh, model_path)
            diff = previous is not None and existed and not full_refresh
            changed = _changed_rows(df, previous, spec) if diff and previous is not None else df
            hint = "rows the write did not reach keep their previous values; fix and run again"
            with fail.translate(MaterializationError, f"writing to {where}", hint):
                upserted = _write_rows(changed, spec, target, count=diff)
            hint = "the new rows are written; run again to remove the remaining stale rows"
            with fail.translate(MaterializationError, f"deleting stale rows from {where}", hint):
                if existed:
                    _delete_stale_keys(session, df, spec, target, previous if diff else None)
        finally:
            session.cluster.shutdown()
    finally:
        if cached:
            df.unpersist()
    return MartWrite(rows, upserted)


def _changed_rows(df: DataFrame, previous: DataFrame, spec: TableSpec) -> DataFrame:
    """Rows of `df` whose key is new or whose values differ from `previous` (two row digests)."""
    keys, columns = list(spec.key_columns), [c for c, _ in spec.columns]
    text = F.to_json(F.struct(*columns))

    def digested(frame: DataFrame) -> DataFrame:
        return frame.withColumn("_xx", F.xxhash64(text)).withColumn("_mm", F.hash(text))

    old = digested(previous).select(*keys, "_xx", "_mm")
    return digested(df).join(old, [*keys, "_xx", "_mm"], "left_anti").drop("_xx", "_mm")


@dataclass(frozen=True)
class _Failures:
    model: str
    model_path: str
    secrets: list[str | None]

    @contextmanager
    def translate(self, error: type[RunnerError], what: str, hint: str) -> Iterator[None]:
        """Turn a Spark, Py4J or driver failure into `error`, secrets scrubbed."""
        try:
            yield
        except RunnerError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyspark, Py4J and the driver wrap failures differently
            cause = scrub_secrets(_root_cause(exc), self.secrets)
            raise error(
                f"model '{self.model}': {what} failed: {cause}",
                location=Location(self.model_path),
                hint=hint,
            ) from None


def _root_cause(exc: BaseException) -> str:
    """The innermost JVM exception message, else the first line of the Python one."""
    from py4j.protocol import Py4JError

    java = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    text = str(exc)
    with suppress(Py4JError):  # the JVM is gone: the Python text is all there is
        while java is not None and java.getCause() is not None:
            java = java.getCause()
        text = str(java.toString()) if java is not None else text
    return _first_line(text)


def _check_keys(df: DataFrame, spec: TableSpec, model_path: str) -> int:
    """Count the rows; fail on null or empty keys and on duplicate primary keys."""
    keys = spec.key_columns
    types = dict(spec.columns)
    text_partition = [k for k in spec.partition_key if types[k] in ("text", "blob")]
    result = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct(*keys).alias("distinct"),
        *(F.count_if(F.col(k).isNull()).alias(f"null_{k}") for k in keys),
        *(F.count_if(F.length(k) == 0).alias(f"empty_{k}") for k in text_partition),
    ).first()
    assert result is not None
    rows = int(result["rows"])
    location = Location(model_path)
    for key in keys:
        if nulls := result[f"null_{key}"]:
            raise MaterializationError(
                f"model '{spec.name}': key column '{key}' is NULL in {nulls} of {rows} rows",
                location=location,
                hint=f"filter or coalesce NULL '{key}' in the model: Cassandra needs every key",
            )
    for key in text_partition:
        if empty := result[f"empty_{key}"]:
            raise MaterializationError(
                f"model '{spec.name}': partition key column '{key}' is '' in {empty} rows",
                location=location,
                hint=f"Cassandra rejects empty partition keys: map '' in '{key}' to a value",
            )
    if duplicates := rows - int(result["distinct"]):
        raise MaterializationError(
            f"model '{spec.name}': the primary key "
            f"{_key_text(spec.partition_key, spec.clustering)} is not unique: "
            f"{duplicates} rows repeat the key of another row",
            location=location,
            hint="make the key unique in the model, or change partition_key/clustering_key",
        )
    return rows


def _prepare_table(
    session: Session,
    spec: TableSpec,
    target: CassandraTarget,
    full_refresh: bool,
    model_path: str,
) -> bool:
    """Create or evolve the table. Returns whether it held rows from before."""
    replication = ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in target.replication.items())
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {quote(spec.keyspace)} WITH replication = {{{replication}}}"
    )
    existing = _existing_columns(session, spec)
    if existing and full_refresh:
        session.execute(f"DROP TABLE IF EXISTS {_table_ref(spec)}")
        existing = {}
    if not existing:
        session.execute(create_table_cql(spec))
        return False
    if added := plan_alter(spec, existing, model_path):
        columns = ", ".join(f"{quote(name)} {ctype}" for name, ctype in added)
        session.execute(f"ALTER TABLE {_table_ref(spec)} ADD ({columns})")
    return True


def _write_rows(
    df: DataFrame, spec: TableSpec, target: CassandraTarget, *, count: bool = False
) -> int | None:
    """Upsert `df`; with `count`, it is cached and counted first, and returns the count."""
    options = connector_options(target)
    _refresh_connector_schema(df.sparkSession, options)
    if count:
        df = df.persist()
    try:
        rows = df.count() if count else None
        if rows != 0:
            (
                df.write.format(CONNECTOR_FORMAT)
                .options(keyspace=spec.keyspace, table=spec.name, **options)
                .mode("append")
                .save()
            )
    finally:
        if count:
            df.unpersist()
    return rows


def _refresh_connector_schema(spark: SparkSession, options: dict[str, str]) -> None:
    """Make the connector's cached driver session see tables and columns created just now."""
    jvm, jsc = spark.sparkContext._jvm, spark.sparkContext._jsc
    assert jvm is not None and jsc is not None
    conf = jsc.sc().getConf().clone()
    for key, value in options.items():
        conf.set(key, value)
    session = jvm.com.datastax.spark.connector.cql.CassandraConnector.apply(conf).openSession()
    try:
        session.refreshSchema()
    finally:
        session.close()


def _delete_stale_keys(
    session: Session,
    df: DataFrame,
    spec: TableSpec,
    target: CassandraTarget,
    previous: DataFrame | None = None,
) -> None:
    """Delete keys stored in Cassandra but absent from `df`: whole partitions, else single rows.

    The stored keys are read from the table, or from `previous` when it says what the table holds.
    """
    from cassandra import ConsistencyLevel
    from cassandra.concurrent import execute_concurrent

    keys, partition = list(spec.key_columns), list(spec.partition_key)
    source = previous if previous is not None else (
        df.sparkSession.read.format(CONNECTOR_FORMAT)
        .options(keyspace=spec.keyspace, table=spec.name, **connector_options(target))
        .load()
    )
    stored = source.select(*keys)
    fresh = df.select(*keys)
    gone_partitions = (
        stored.select(*partition).distinct().join(fresh.select(*partition), partition, "left_anti")
    )
    batches = [(partition, gone_partitions)]
    if spec.clustering:
        gone_rows = stored.join(fresh, keys, "left_anti").join(
            gone_partitions, partition, "left_anti"
        )
        batches.append((keys, gone_rows))
    types = dict(spec.columns)
    for columns, frame in batches:
        where = " AND ".join(f"{quote(c)} = ?" for c in columns)
        statement = session.prepare(f"DELETE FROM {_table_ref(spec)} WHERE {where}")
        statement.consistency_level = getattr(ConsistencyLevel, _consistency(target))
        # Spark hands timestamps to Python as naive local times; epoch milliseconds are exact.
        selected = [
            F.unix_millis(F.col(c)).alias(c) if types[c] == "timestamp" else F.col(c)
            for c in columns
        ]
        # rows of one partition share a batch: one mutation on the replicas, not one per row
        width = len(partition) if columns == keys and spec.clustering else 0
        stale = frame.select(*selected).persist()
        try:
            count = stale.count()
            # ranges of about DELETE_CHUNK keys, in key order: Python holds one at a time
            ordered = stale.repartitionByRange(max(1, count // DELETE_CHUNK), *columns)
            rows = ordered.sortWithinPartitions(*columns).toLocalIterator() if count else iter(())
            while chunk := [tuple(row) for row in islice(rows, DELETE_CHUNK)]:
                execute_concurrent(
                    session, list(_delete_statements(statement, chunk, width)),
                    concurrency=DELETE_CONCURRENCY, raise_on_first_error=True,
                )
        finally:
            stale.unpersist()


def _delete_statements(
    statement: Any, rows: list[tuple[Any, ...]], width: int
) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """(statement, values) pairs for `rows` in key order; with `width` partition columns,
    consecutive rows of one partition go together in unlogged batches of DELETE_BATCH_ROWS."""
    from cassandra.query import BatchStatement, BatchType

    if not width:
        yield from ((statement, row) for row in rows)
        return
    batch, current, size = None, None, 0
    for row in rows:
        if batch is None or row[:width] != current or size >= DELETE_BATCH_ROWS:
            if batch is not None:
                yield batch, ()
            batch = BatchStatement(BatchType.UNLOGGED, consistency_level=statement.consistency_level)
            current, size = row[:width], 0
        batch.add(statement, row)
        size += 1
    if batch is not None:
        yield batch, ()
