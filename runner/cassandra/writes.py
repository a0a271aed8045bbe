"""Refresh a Cassandra mart without a gap: check keys, upsert changed rows, delete stale keys.

`write_mart` never truncates. It upserts every new row through spark-cassandra-connector first,
then deletes only the keys that the new result no longer has, so readers always see either the
previous or the new version of each row, and a failed write leaves the previous rows in place.
Given the rows the table holds from the last build (`previous`), it upserts only the rows that
changed since, and finds the keys to delete there instead of scanning the table; but only after
Cassandra confirmed that the table holds them (`runner.cassandra.marker`). The Spark jobs that
read or write Cassandra run under `runner.cassandra.watchdog`, so a node that dies or hangs
ends the write within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

from pyspark.sql import functions as F

from runner.cassandra.client import Failures, connect, consistency, quote, root_cause
from runner.cassandra.connector import append_rows, evict_sessions, read_table
from runner.cassandra.marker import (
    MARKER_TABLE,
    Stamp,
    clear_marker,
    ensure_marker_table,
    mismatch,
    new_build_id,
    write_marker,
    writer_name,
)
from runner.cassandra.schema import TableSpec, key_text, prepare_table, table_ref, table_spec
from runner.cassandra.watchdog import watched
from runner.errors import ExecutionError, Location, MaterializationError

if TYPE_CHECKING:
    from cassandra.cluster import Session
    from pyspark.sql import DataFrame

    from runner.config import CassandraTarget, ModelConfig

DELETE_CONCURRENCY = 64
DELETE_CHUNK = 10_000
DELETE_BATCH_ROWS = 40  # row deletes of one partition per batch, under the 5 KiB batch warning
# A connection closed under a request: the node died. Retried while the ring may still have a
# quorum; the driver marks the node down within seconds, so the next try avoids it.
NODE_LOST_MARKS = (
    "ClosedChannelException", "ClosedConnectionException", "Connection has been closed",
    "HeartbeatException", "Channel has been closed",
)
NODE_LOST_TRIES, NODE_LOST_PAUSE = 3, 5.0
T = TypeVar("T")


@dataclass(frozen=True)
class MartWrite:
    rows: int  # rows of the mart
    upserted: int | None  # rows sent to Cassandra; None: all of them
    stamp: Stamp  # this write, as the table's marker records it
    distrust: str | None = None  # why `previous` was not used although it was given


@dataclass(frozen=True)
class PreviousCopy:
    """What the last write of the table sent (its Parquet copy) and the stamp it recorded."""

    rows: DataFrame
    stamp: Stamp


def write_mart(
    df: DataFrame,
    *,
    table: str,
    config: ModelConfig,
    target: CassandraTarget,
    full_refresh: bool,
    model_path: str,
    writer: str = "",
    stable: bool = False,
    previous: PreviousCopy | None = None,
) -> MartWrite:
    """Store a mart in `target.keyspace`.`table` without a gap for readers.

    The keyspace and table are created when missing, new columns are added; a changed key or
    type needs `full_refresh`, which drops and recreates the table. Rows are upserted first,
    then only keys that disappeared from the result are deleted (whole partitions where possible).
    The table's marker in `<keyspace>.runner_state` is removed first and set to a new build id
    last (`MartWrite.stamp`, for the mart's Parquet copy).

    Args:
        df: the mart's rows.
        table: table name (the model name).
        config: the model's config with `partition_key` and `clustering_key`.
        target: where to write.
        full_refresh: drop and recreate the table first.
        model_path: the model's file, for error locations.
        writer: where the build runs (e.g. its marts folder), for other builds' messages.
        stable: `df` reads data that cannot change while it is written (the staged Parquet of
            a mart), so it is read as is instead of cached first.
        previous: the last write's Parquet copy and stamp, with the same schema; used only when
            the table existed, no full refresh is asked and Cassandra confirms the stamp.
    """
    spec = table_spec(
        df.schema, table=table, keyspace=target.keyspace, config=config, model_path=model_path
    )
    where = f"{spec.keyspace}.{spec.name}"
    address = ", ".join(f"{host}:{target.port}" for host in target.hosts)
    level = consistency(target)
    fail = Failures(spec.name, model_path, [target.credentials()[1]])
    # Pin the rows once: the key check, the write and the anti-join must see the same data.
    cached = not stable and not df.storageLevel.useMemory
    if cached:
        df = df.persist()
    try:
        with fail.translate(ExecutionError, "computing the model", "fix the model's SQL"):
            rows = _check_keys(df, spec, model_path)
        session = connect(target)
        try:
            hint = "check that the target's user may create and alter tables in the keyspace"
            with fail.translate(MaterializationError, f"creating or altering {where}", hint):
                existed = prepare_table(session, spec, target, full_refresh, model_path)
                ensure_marker_table(session, spec.keyspace)
            offered = None if full_refresh else previous
            with fail.translate(MaterializationError, f"checking {where}", "run it again"):
                distrust = _distrust(session, spec, offered, existed, level)
            trusted = offered if distrust is None else None
            hint = f"check that the target's user may write {spec.keyspace}.{MARKER_TABLE}"
            with fail.translate(MaterializationError, f"clearing the marker of {where}", hint):
                clear_marker(session, spec.keyspace, spec.name, level)
            changed = _changed_rows(df, trusted.rows, spec) if trusted is not None else df
            hint = "rows the write did not reach keep their previous values; fix and run again"
            with (
                watched(df.sparkSession, session, address, f"writing to {where}"),
                fail.translate(MaterializationError, f"writing to {where}", hint),
            ):
                upserted = retry_node_loss(
                    lambda: _write_rows(changed, spec, target, count=trusted is not None),
                    lambda: evict_sessions(df.sparkSession),
                    several_hosts=len(target.hosts) > 1,
                )
            hint = "the new rows are written; run again to remove the remaining stale rows"
            with (
                watched(df.sparkSession, session, address, f"deleting stale rows from {where}"),
                fail.translate(MaterializationError, f"deleting stale rows from {where}", hint),
            ):
                if existed:
                    stored = trusted.rows if trusted is not None else None
                    # idempotent: a node lost during the scan is retried on the live replicas
                    retry_node_loss(
                        lambda: _delete_stale_keys(session, df, spec, target, stored),
                        lambda: evict_sessions(df.sparkSession),
                        several_hosts=len(target.hosts) > 1,
                    )
            hint = "the rows are written; the next build sends every row again"
            with fail.translate(MaterializationError, f"setting the marker of {where}", hint):
                stamp = Stamp(new_build_id(), rows)
                write_marker(session, spec.keyspace, spec.name, stamp, writer_name(writer), level)
        finally:
            session.cluster.shutdown()
    finally:
        if cached:
            df.unpersist()
    return MartWrite(rows, upserted, stamp, distrust)


def retry_node_loss(
    action: Callable[[], T],
    reset: Callable[[], None],
    *,
    several_hosts: bool,
    pause: float = NODE_LOST_PAUSE,
) -> T:
    """Run an idempotent `action`; on a lost connection to one node of a ring, `reset` the
    cached sessions and try again (NODE_LOST_TRIES in all). Other failures are raised at once."""
    for attempt in range(1, NODE_LOST_TRIES + 1):
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - Py4J and the driver wrap the same loss differently
            if not several_hosts or attempt == NODE_LOST_TRIES or not node_lost(exc):
                raise
            reset()
            time.sleep(pause * attempt)
    raise AssertionError("unreachable")


def node_lost(exc: BaseException) -> bool:
    """Whether `exc` says a connection to a node was closed under a request."""
    text = f"{exc!r} {root_cause(exc)}"
    return any(mark in text for mark in NODE_LOST_MARKS)


def _distrust(
    session: Session, spec: TableSpec, offered: PreviousCopy | None, existed: bool, level: str
) -> str | None:
    """Why the offered copy does not stand for the table; None when it does or none is offered."""
    if offered is None:
        return None
    if not existed:
        return f"{spec.keyspace}.{spec.name} did not exist"
    return mismatch(session, spec, offered.stamp, level)


def _changed_rows(df: DataFrame, previous: DataFrame, spec: TableSpec) -> DataFrame:
    """Rows of `df` whose key is new or whose values differ from `previous` (two row digests)."""
    keys, columns = list(spec.key_columns), [c for c, _ in spec.columns]
    text = F.to_json(F.struct(*columns))

    def digested(frame: DataFrame) -> DataFrame:
        return frame.withColumn("_xx", F.xxhash64(text)).withColumn("_mm", F.hash(text))

    old = digested(previous).select(*keys, "_xx", "_mm")
    return digested(df).join(old, [*keys, "_xx", "_mm"], "left_anti").drop("_xx", "_mm")


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
            f"{key_text(spec.partition_key, spec.clustering)} is not unique: "
            f"{duplicates} rows repeat the key of another row",
            location=location,
            hint="make the key unique in the model, or change partition_key/clustering_key",
        )
    return rows


def _write_rows(
    df: DataFrame, spec: TableSpec, target: CassandraTarget, *, count: bool = False
) -> int | None:
    """Upsert `df`; with `count`, it is cached and counted first, and returns the count."""
    if count:
        df = df.persist()
    try:
        rows = df.count() if count else None
        if rows != 0:
            append_rows(df, spec.keyspace, spec.name, target)
    finally:
        if count:
            df.unpersist()
    return rows


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
    source = previous
    if source is None:
        source = read_table(df.sparkSession, spec.keyspace, spec.name, target)
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
        statement = session.prepare(f"DELETE FROM {table_ref(spec)} WHERE {where}")
        statement.consistency_level = getattr(ConsistencyLevel, consistency(target))
        statement.is_idempotent = True  # the driver may retry a delete on another replica
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
                    session,
                    list(delete_statements(statement, chunk, width)),
                    concurrency=DELETE_CONCURRENCY,
                    raise_on_first_error=True,
                )
        finally:
            stale.unpersist()


def delete_statements(
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
            level = statement.consistency_level
            batch = BatchStatement(BatchType.UNLOGGED, consistency_level=level)
            current, size = row[:width], 0
        batch.add(statement, row)
        size += 1
    if batch is not None:
        yield batch, ()
