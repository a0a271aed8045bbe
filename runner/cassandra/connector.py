"""spark-cassandra-connector: its options, the Spark conf that loads it, reads and writes.

Every request the connector sends has a bound: `spark.cassandra.connection.timeoutMS` for
connecting (and its schema queries), `spark.cassandra.read.timeoutMS` for each read or write
request, a few retries of a timed-out read, and a schema refresh that waits at most
`REQUEST_TIMEOUT`. The connector caches its driver sessions in the JVM for an hour; after a
failure they are evicted, so a node that was restarted meanwhile is reached afresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from runner.cassandra.client import REQUEST_TIMEOUT, consistency

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from runner.config import CassandraTarget

CONNECTOR_FORMAT = "org.apache.spark.sql.cassandra"
CATALOG = "cass"
QUERY_RETRIES = 3  # the connector's default, 60 tries of a timed-out read, would take hours
RECONNECT_MAX_MS = 5000  # a session notices a restarted node within 5 s (default 60 s)


def connector_options(target: CassandraTarget) -> dict[str, str]:
    """spark-cassandra-connector settings that say where and how to connect and write.

    They go into the Spark conf and into every read and write, so a write reaches `target`
    whatever the session was built with.
    """
    options = {
        "spark.cassandra.connection.host": ",".join(target.hosts),
        "spark.cassandra.connection.port": str(target.port),
        "spark.cassandra.connection.timeoutMS": str(int(target.connect_timeout * 1000)),
        "spark.cassandra.read.timeoutMS": str(int(REQUEST_TIMEOUT * 1000)),  # writes use it too
        "spark.cassandra.query.retry.count": str(QUERY_RETRIES),
        "spark.cassandra.connection.reconnectionDelayMS.max": str(RECONNECT_MAX_MS),
        "spark.cassandra.output.consistency.level": consistency(target),
        # the scan for stale keys must see every write of the last build: R + W > RF
        "spark.cassandra.input.consistency.level": consistency(target),
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


def read_table(
    spark: SparkSession, keyspace: str, table: str, target: CassandraTarget
) -> DataFrame:
    """The rows of `keyspace`.`table` in `target`, read through the connector."""
    return (
        spark.read.format(CONNECTOR_FORMAT)
        .options(keyspace=keyspace, table=table, **connector_options(target))
        .load()
    )


def append_rows(df: DataFrame, keyspace: str, table: str, target: CassandraTarget) -> None:
    """Upsert the rows of `df` into `keyspace`.`table` of `target`.

    On failure the connector's cached sessions are evicted, so the next write connects afresh.
    """
    options = connector_options(target)
    try:
        refresh_schema(df.sparkSession, options)
        (
            df.write.format(CONNECTOR_FORMAT)
            .options(keyspace=keyspace, table=table, **options)
            .mode("append")
            .save()
        )
    except BaseException:
        evict_sessions(df.sparkSession)
        raise


def refresh_schema(spark: SparkSession, options: dict[str, str]) -> None:
    """Make the connector's cached driver session see tables and columns created just now.

    Waits at most `REQUEST_TIMEOUT` seconds (the driver's own `refreshSchema()` has no bound
    of its own); a session that fails is evicted and one fresh session tries once more.
    """
    from py4j.protocol import Py4JJavaError

    try:
        _refresh_once(spark, options)
    except Py4JJavaError:
        evict_sessions(spark)
        _refresh_once(spark, options)


def _refresh_once(spark: SparkSession, options: dict[str, str]) -> None:
    jvm, jsc = spark.sparkContext._jvm, spark.sparkContext._jsc
    assert jvm is not None and jsc is not None
    conf = jsc.sc().getConf().clone()
    for key, value in options.items():
        conf.set(key, value)
    session = jvm.com.datastax.spark.connector.cql.CassandraConnector.apply(conf).openSession()
    try:
        milliseconds = jvm.java.util.concurrent.TimeUnit.MILLISECONDS
        future = session.refreshSchemaAsync().toCompletableFuture()
        future.get(int(REQUEST_TIMEOUT * 1000), milliseconds)
    finally:
        session.close()


def evict_sessions(spark: SparkSession) -> None:
    """Close the connector's cached driver sessions that no running job holds."""
    from py4j.protocol import Py4JError

    jvm = spark.sparkContext._jvm
    with suppress(Py4JError):  # the JVM is going away: nothing left to evict
        if jvm is not None:
            jvm.com.datastax.spark.connector.cql.CassandraConnector.evictCache()
