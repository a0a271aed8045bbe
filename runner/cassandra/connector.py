"""spark-cassandra-connector: its options, the Spark conf that loads it, and reads of a table."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from runner.cassandra.client import consistency

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from runner.config import CassandraTarget

CONNECTOR_FORMAT = "org.apache.spark.sql.cassandra"
CATALOG = "cass"


def connector_options(target: CassandraTarget) -> dict[str, str]:
    """spark-cassandra-connector settings that say where and how to connect and write.

    They go into the Spark conf and into every read and write, so a write reaches `target`
    whatever the session was built with.
    """
    options = {
        "spark.cassandra.connection.host": ",".join(target.hosts),
        "spark.cassandra.connection.port": str(target.port),
        "spark.cassandra.connection.timeoutMS": str(int(target.connect_timeout * 1000)),
        "spark.cassandra.output.consistency.level": consistency(target),
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
    """Upsert the rows of `df` into `keyspace`.`table` of `target`."""
    options = connector_options(target)
    refresh_schema(df.sparkSession, options)
    (
        df.write.format(CONNECTOR_FORMAT)
        .options(keyspace=keyspace, table=table, **options)
        .mode("append")
        .save()
    )


def refresh_schema(spark: SparkSession, options: dict[str, str]) -> None:
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
