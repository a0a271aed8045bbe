"""The state file in a mart's Parquet copy: which table its rows went to, and which write.

`target/marts/<model>/_cassandra.json` holds where and in which shape the rows were written
(hosts, port, keyspace, table, keys, Spark schema) and the stamp of that write (build id, rows).
A copy offers itself as "what the table holds" only while the shape is the same; Cassandra then
has to confirm the stamp (`runner.cassandra.marker`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.cassandra.marker import Stamp

if TYPE_CHECKING:
    from runner.config import CassandraTarget, ModelConfig

STATE_FILE = "_cassandra.json"


def table_state(
    target: CassandraTarget, table: str, config: ModelConfig, schema_json: str
) -> dict[str, Any]:
    """Where and in which shape a mart's rows go: a copy stands for the table only while this
    is unchanged."""
    return {
        "hosts": sorted(target.hosts),
        "port": target.port,
        "keyspace": target.keyspace,
        "table": table,
        "partition_key": list(config.partition_key or []),
        "clustering_key": list(config.clustering_key or []),
        "schema": json.loads(schema_json),
    }


def read_stamp(folder: Path, state: dict[str, Any]) -> Stamp | None:
    """The stamp of the copy in `folder` if it was written with `state`; else None.

    A copy written before stamps were kept has none: its table gets every row once.
    """
    try:
        recorded = json.loads((folder / STATE_FILE).read_text())
        stamp = recorded.pop("stamp")
        same = recorded == state
        return Stamp(str(stamp["build_id"]), int(stamp["rows"])) if same else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_state(folder: Path, state: dict[str, Any], stamp: Stamp) -> None:
    """Record `state` and `stamp` in the copy in `folder`."""
    content = {**state, "stamp": {"build_id": stamp.build_id, "rows": stamp.rows}}
    (folder / STATE_FILE).write_text(json.dumps(content, indent=1))
