"""Whether Cassandra tables still hold their marts' Parquet copies, by reading only.

A build that reuses a mart instead of writing it again must know its table holds what the copy
says was sent: the same checks a write makes before it trusts a copy (`runner.cassandra.marker`:
the marker row names the copy's write, the table holds its row count), without writing anything.
A TRUNCATE'd, dropped or half-written table, or one another build wrote last, is not confirmed,
and the build writes it again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from runner.cassandra.client import connect, consistency, first_line
from runner.cassandra.copy_state import STATE_FILE
from runner.cassandra.marker import Stamp, mismatch
from runner.cassandra.schema import TableSpec

if TYPE_CHECKING:
    from runner.config import CassandraTarget, ModelConfig


def unconfirmed_tables(
    target: CassandraTarget, copies: Mapping[str, tuple[Path, ModelConfig]]
) -> dict[str, str]:
    """The marts whose table does not hold their copy, and why; the others are confirmed.

    Args:
        target: the build's Cassandra.
        copies: mart name -> (its Parquet copy's folder, its config now).
    """
    if not copies:
        return {}
    out: dict[str, str] = {}
    specs: dict[str, tuple[TableSpec, Stamp]] = {}
    for name, (folder, config) in copies.items():
        found = recorded_stamp(folder, target, name, config)
        if isinstance(found, str):
            out[name] = found
        else:
            specs[name] = found
    if not specs:
        return out
    try:
        session = connect(target)
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: write them again
        reason = f"Cassandra did not answer: {first_line(str(exc)) or type(exc).__name__}"
        return {**out, **dict.fromkeys(specs, reason)}
    level = consistency(target)
    try:
        for name, (spec, stamp) in specs.items():
            try:
                why = mismatch(session, spec, stamp, level)
            except Exception as exc:  # noqa: BLE001 - a dropped marker table, a timeout: write
                why = f"checking it failed: {first_line(str(exc)) or type(exc).__name__}"
            if why is not None:
                out[name] = why
    finally:
        session.cluster.shutdown()
    return out


def recorded_stamp(
    folder: Path, target: CassandraTarget, table: str, config: ModelConfig
) -> tuple[TableSpec, Stamp] | str:
    """The table and stamp a copy's state file records, if it was written to this target's
    table with these keys; else why not."""
    try:
        recorded = json.loads((folder / STATE_FILE).read_text())
        stamp = Stamp(str(recorded["stamp"]["build_id"]), int(recorded["stamp"]["rows"]))
        where = (recorded["hosts"], recorded["port"], recorded["keyspace"], recorded["table"],
                 recorded["partition_key"], recorded["clustering_key"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"its copy records no write ({type(exc).__name__})"
    now = (sorted(target.hosts), target.port, target.keyspace, table,
           list(config.partition_key or []), list(config.clustering_key or []))
    if list(where) != list(now):
        return "its copy was written to another table or with other keys"
    spec = TableSpec(target.keyspace, table, (), tuple(config.partition_key or []), ())
    return spec, stamp
