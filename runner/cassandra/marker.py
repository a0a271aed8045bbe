"""Whether a mart's table still holds what its Parquet copy in target/marts says was sent.

A rebuild sends only the changed rows when the table holds the rows of the previous copy. That
is checked against Cassandra, never taken from target/ alone:

- `<keyspace>.runner_state` has one marker row per table: the build that wrote it last and its
  row count. The marker is removed before any row is written and set after the last one. A
  write that did not finish leaves none; another checkout, the other target on the same
  address, or a target/ copied back leaves another build's id than the copy's state file has.
- The table's rows are counted (per token range, each with a timeout): a TRUNCATE, expired TTLs
  or deletes by hand change the count.

Values changed in place with the row count kept (an UPDATE by hand) are not seen: rebuild with
`--full-refresh` after such edits.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runner.cassandra.client import first_line, quote
from runner.cassandra.schema import TableSpec, table_ref

if TYPE_CHECKING:
    from cassandra.cluster import Session

MARKER_TABLE = "runner_state"
MURMUR3 = "org.apache.cassandra.dht.Murmur3Partitioner"
WHOLE_COUNT_TIMEOUT = 10.0  # seconds for one count of the whole table (a mart of 13 k rows: 0.05 s)
COUNT_SPLITS = 16  # else token ranges counted apart, each far below the server's range timeout
COUNT_CONCURRENCY = 4
COUNT_TIMEOUT = 60.0  # seconds for each range's count

_create_lock = threading.Lock()  # marts of one build must not create the marker table at once


@dataclass(frozen=True)
class Stamp:
    """Which write a table's rows come from: kept in the marker row and in the copy's state.

    Args:
        build_id: unique per write of a mart (time and random part).
        rows: rows the write left in the table.
    """

    build_id: str
    rows: int


@dataclass(frozen=True)
class Marker:
    """A marker row as read back."""

    build_id: str
    rows: int
    written_at: datetime | None
    writer: str


def new_build_id() -> str:
    """A build id: sortable UTC time plus a random part, e.g. `20261130T160433-1f0c2a9b`."""
    import uuid

    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def writer_name(place: str) -> str:
    """Who writes, for messages: `host:place` (place: e.g. the project's marts folder)."""
    return f"{socket.gethostname()}:{place}" if place else socket.gethostname()


def ensure_marker_table(session: Session, keyspace: str) -> None:
    """Create `<keyspace>.runner_state` when the driver's schema metadata does not list it."""
    with _create_lock:
        known = session.cluster.metadata.keyspaces.get(keyspace)
        if known is not None and MARKER_TABLE in known.tables:
            return
        session.execute(
            f"CREATE TABLE IF NOT EXISTS {quote(keyspace)}.{MARKER_TABLE} (table_name text "
            "PRIMARY KEY, build_id text, rows bigint, written_at timestamp, writer text)"
        )


def read_marker(session: Session, keyspace: str, table: str, level: str) -> Marker | None:
    """The marker row of `table`, or None."""
    row = session.execute(
        _statement(
            f"SELECT build_id, rows, written_at, writer FROM {quote(keyspace)}.{MARKER_TABLE} "
            "WHERE table_name = %s",
            level,
        ),
        (table,),
    ).one()
    if row is None or row.build_id is None:
        return None
    return Marker(row.build_id, int(row.rows or 0), row.written_at, row.writer or "?")


def clear_marker(session: Session, keyspace: str, table: str, level: str) -> None:
    """Remove the marker before rows are written: until it is set again, nothing is trusted."""
    session.execute(
        _statement(f"DELETE FROM {quote(keyspace)}.{MARKER_TABLE} WHERE table_name = %s", level),
        (table,),
    )


def write_marker(
    session: Session, keyspace: str, table: str, stamp: Stamp, writer: str, level: str
) -> None:
    """Record that `stamp` is what the table holds now (after the last row was written)."""
    session.execute(
        _statement(
            f"INSERT INTO {quote(keyspace)}.{MARKER_TABLE} (table_name, build_id, rows, "
            "written_at, writer) VALUES (%s, %s, %s, %s, %s)",
            level,
        ),
        (table, stamp.build_id, stamp.rows, datetime.now(UTC), writer),
    )


def mismatch(session: Session, spec: TableSpec, expected: Stamp, level: str) -> str | None:
    """Why the table cannot be trusted to hold the copy stamped `expected`; None if it can.

    The marker is checked first (one row read); only then are the table's rows counted.
    """
    where = f"{spec.keyspace}.{MARKER_TABLE}"
    marker = read_marker(session, spec.keyspace, spec.name, level)
    if marker is None:
        return f"{where} has no marker for it: a write did not finish, or another tool wrote it"
    if marker.build_id != expected.build_id:
        when = f"{marker.written_at:%Y-%m-%d %H:%M} UTC" if marker.written_at else "?"
        return (
            f"another build wrote it last: {marker.build_id} from {marker.writer} at {when}, "
            f"target/ has {expected.build_id}"
        )
    try:
        count = count_rows(session, spec, level)
    except Exception as exc:  # noqa: BLE001 - any failure to count means: do not trust
        return f"counting its rows failed: {first_line(str(exc)) or type(exc).__name__}"
    if count != expected.rows:
        return f"it holds {count} rows, target/ says {expected.rows}: a TRUNCATE, TTL or deletes"
    return None


def count_rows(session: Session, spec: TableSpec, level: str) -> int:
    """The table's rows: one count when it answers within `WHOLE_COUNT_TIMEOUT`, else counted
    per token range, `COUNT_CONCURRENCY` ranges at a time (a large table, a slow node)."""
    whole = _statement(f"SELECT count(*) FROM {table_ref(spec)}", level)
    murmur3 = session.cluster.metadata.partitioner == MURMUR3
    try:
        timeout = WHOLE_COUNT_TIMEOUT if murmur3 else COUNT_TIMEOUT
        return int(session.execute(whole, timeout=timeout).one()[0])
    except Exception:  # noqa: BLE001 - a client or server timeout, too many tombstones: split
        if not murmur3:
            raise
    token = f"token({', '.join(quote(c) for c in spec.partition_key)})"
    prepared = session.prepare(
        f"SELECT count(*) FROM {table_ref(spec)} WHERE {token} >= ? AND {token} <= ?"
    )
    prepared.consistency_level = _level(level)
    ranges = token_ranges(COUNT_SPLITS)
    total = 0
    for start in range(0, len(ranges), COUNT_CONCURRENCY):
        futures = [
            session.execute_async(prepared, bounds, timeout=COUNT_TIMEOUT)
            for bounds in ranges[start : start + COUNT_CONCURRENCY]
        ]
        total += sum(int(future.result().one()[0]) for future in futures)
    return total


def token_ranges(splits: int) -> list[tuple[int, int]]:
    """`splits` inclusive ranges that cover the Murmur3 token ring.

    Example:
        >>> token_ranges(2)
        [(-9223372036854775808, -1), (0, 9223372036854775807)]
    """
    low, high = -(2**63), 2**63 - 1
    step = (high - low + 1) // splits
    starts = [low + i * step for i in range(splits)]
    return [(s, (starts[i + 1] - 1) if i + 1 < splits else high) for i, s in enumerate(starts)]


def _statement(cql: str, level: str) -> Any:
    from cassandra.query import SimpleStatement

    return SimpleStatement(cql, consistency_level=_level(level))


def _level(level: str) -> Any:
    from cassandra import ConsistencyLevel

    return getattr(ConsistencyLevel, level)
