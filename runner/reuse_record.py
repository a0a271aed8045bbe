"""Which nodes a build reuses: the record of each node's last good result, and the choice.

`target/reuse_record.json` keeps, per node (`model.<name>`, `test.<name>`, `unit_test.<name>`),
the fingerprint it last succeeded with (`runner.reuse`) and that result: a model's message and
rows, a test's status (pass or warn) and failing rows. A node that errors, fails or is skipped
loses its entry, so a failure is never reused. A build reuses a node when the record holds its
current fingerprint, its stored rows are still there (the caller checks: Parquet copy, persisted
folder, Cassandra table), nothing is forced (`--full-refresh`), and every model above it in the
build is reused too: a recomputed model recomputes what reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from runner.artifacts import write_json
from runner.results import NodeResult, NodeStatus, ResourceType

RECORD_VERSION = 1
REUSED_PREFIX = "reused (unchanged)"


@dataclass(frozen=True)
class Recorded:
    """A node's last good result and the fingerprint it was computed with."""

    fingerprint: str
    status: str  # success | warn
    message: str = ""
    rows: int | None = None
    failures: int | None = None


@dataclass(frozen=True)
class Candidate:
    """What the choice needs to know of one planned node.

    Args:
        unique_id: `model.<name>`, `test.<name>` or `unit_test.<name>`.
        fingerprint: its fingerprint now.
        stored: its stored result is in place and current (always True for a test or a view).
        upstream: the unique ids of the models in this build it reads, directly or not.
    """

    unique_id: str
    fingerprint: str
    stored: bool = True
    upstream: tuple[str, ...] = ()


def choose_reused(
    candidates: Sequence[Candidate], record: Mapping[str, Recorded], *, full_refresh: bool
) -> dict[str, Recorded]:
    """The nodes to reuse and the results they reuse; `candidates` in plan order.

    Example:
        >>> rec = {"model.a": Recorded("1", "success"), "model.b": Recorded("2", "success"),
        ...        "test.t": Recorded("3", "success")}
        >>> plan = [Candidate("model.a", "1"), Candidate("model.b", "9", upstream=("model.a",)),
        ...         Candidate("test.t", "3", upstream=("model.b",))]
        >>> sorted(choose_reused(plan, rec, full_refresh=False))
        ['model.a']
    """
    if full_refresh:
        return {}
    reused: dict[str, Recorded] = {}
    planned = {c.unique_id for c in candidates}
    for c in candidates:
        last = record.get(c.unique_id)
        if (last is not None and last.fingerprint == c.fingerprint and c.stored
                and last.status in (NodeStatus.SUCCESS, NodeStatus.WARN)
                and all(u in reused or u not in planned for u in c.upstream)):
            reused[c.unique_id] = last
    return reused


def reused_result(result: NodeResult, last: Recorded) -> NodeResult:
    """The result of a reused node: its last good status, rows and failing rows, flagged.

    Example:
        >>> r = reused_result(NodeResult("m", NodeStatus.SKIPPED, "", materialized="table"),
        ...                   Recorded("f", "success", "table (3 rows)", rows=3))
        >>> r.status, r.message, r.rows, r.reused
        (<NodeStatus.SUCCESS: 'success'>, 'reused (unchanged): table (3 rows)', 3, True)
    """
    message = f"{REUSED_PREFIX}: {last.message}" if last.message else REUSED_PREFIX
    return replace(result, status=NodeStatus(last.status), message=message, seconds=0.0,
                   rows=last.rows, failures=last.failures, timing={}, reused=True)


def update_record(
    record: Mapping[str, Recorded], results: Iterable[NodeResult], fingerprints: Mapping[str, str]
) -> dict[str, Recorded]:
    """The record after a run: each node that ran and succeeded (or warned) is recorded with its
    fingerprint; each that errored, failed or was skipped is dropped; reused ones stay.

    Example:
        >>> ok = NodeResult("a", NodeStatus.SUCCESS, "table (3 rows)", rows=3)
        >>> bad = NodeResult("t", NodeStatus.ERROR, "1 failing row", failures=1,
        ...                  resource_type=ResourceType.TEST)
        >>> new = update_record({"test.t": Recorded("x", "success")}, [ok, bad],
        ...                     {"model.a": "f1", "test.t": "f2"})
        >>> sorted(new), new["model.a"].fingerprint
        (['model.a'], 'f1')
    """
    out = dict(record)
    for r in results:
        if r.reused:
            continue
        if r.status in (NodeStatus.SUCCESS, NodeStatus.WARN) and r.unique_id in fingerprints:
            out[r.unique_id] = Recorded(fingerprints[r.unique_id], r.status.value, r.message,
                                        r.rows, r.failures)
        else:
            out.pop(r.unique_id, None)
    return out


def load_record(path: Path) -> dict[str, Recorded]:
    """The record in `path`; empty when there is none or it cannot be read (nothing reused)."""
    try:
        data = json.loads(path.read_text())
        if data.get("version") != RECORD_VERSION:
            return {}
        return {uid: Recorded(**entry) for uid, entry in data["nodes"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def save_record(path: Path, record: Mapping[str, Recorded]) -> None:
    """Write the record atomically."""
    write_json(path, {"version": RECORD_VERSION,
                      "nodes": {uid: asdict(r) for uid, r in sorted(record.items())}})


def model_id(name: str) -> str:
    """`model.<name>`, as `NodeResult.unique_id` spells it."""
    return f"{ResourceType.MODEL}.{name}"
