"""What a build changed in each mart: its Parquet copy against the one that build replaced.

A table-like model keeps its last two copies, `target/marts/<model>/` and
`target/marts-previous/<model>/` (`runner.spark.materializations.previous_copy`). Rows are paired
by the model's key (partition + clustering key, else a `unique` test); value changes read as an
analyst says them: `activation_rate, sellers: 48.4% → 47.9%`. Pandas and pyarrow only, no Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa
import pyarrow.parquet as pq

from runner.compile import CompiledProject
from runner.errors import RunnerError
from runner.explore.arrow_equal import arrays_equal, combine
from runner.explore.preview import jsonable
from runner.explore.words import format_change
from runner.results import NodeStatus, ResourceType, RunResult
from runner.spark.materializations import previous_copy

TABLE_LIKE = ("table", "cassandra", "incremental")  # models with a Parquet copy in target/marts


class DiffState(StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    NEW = "new"  # no previous copy: the first build of this mart
    MISSING = "missing"  # never built


@dataclass(frozen=True)
class SchemaChange:
    added: tuple[tuple[str, str], ...] = ()  # (column, type)
    removed: tuple[tuple[str, str], ...] = ()
    retyped: tuple[tuple[str, str, str], ...] = ()  # (column, before, after)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.retyped)


@dataclass(frozen=True)
class ValueChange:
    key: tuple[Any, ...]
    column: str
    before: Any
    after: Any
    text: str  # `activation_rate, sellers: 48.4% → 47.9%`


@dataclass(frozen=True)
class MartDiff:
    name: str
    state: DiffState
    key: tuple[str, ...] = ()
    rows_before: int = 0
    rows_after: int = 0
    schema: SchemaChange = field(default_factory=SchemaChange)
    rows_added: int = 0
    rows_removed: int = 0
    rows_changed: int = 0
    equal_share: dict[str, float] = field(default_factory=dict)  # of the paired rows
    changed_columns: tuple[str, ...] = ()
    changes: tuple[ValueChange, ...] = ()  # the first `limit` changed values, in key order
    changes_total: int = 0
    added_keys: tuple[tuple[Any, ...], ...] = ()  # the first few
    removed_keys: tuple[tuple[Any, ...], ...] = ()
    built_before: datetime | None = None
    built_after: datetime | None = None
    note: str = ""


# -- keys ------------------------------------------------------------------------------------


def mart_key(cp: CompiledProject, name: str) -> tuple[str, ...]:
    """The columns that identify a row of model `name`: its partition and clustering key, its
    unique_key, else the columns of a `unique` / `unique_combination_of_columns` test on it;
    () when none."""
    config = cp.models[name].config
    declared = [*config.partition_key, *config.clustering_key]
    if declared:
        return tuple(column.split()[0] for column in declared)
    if config.unique_key:  # an incremental model's merge key
        return (config.unique_key,) if isinstance(config.unique_key, str) else tuple(
            config.unique_key)
    for test in cp.tests.values():
        if test.model != name:
            continue
        if test.kind == "unique" and test.column and not test.where:
            return (test.column,)
        if test.kind == "unique_combination_of_columns" and not test.where:
            return tuple(test.kwargs.get("combination_of_columns") or ())
    return ()


# -- comparing two copies --------------------------------------------------------------------


def diff_tables(
    name: str,
    before: pa.Table | pd.DataFrame | None,
    after: pa.Table | pd.DataFrame | None,
    key: Sequence[str] = (),
    *,
    limit: int = 20,
) -> MartDiff:
    """Compare two versions of a mart.

    Args:
        name: the mart, for messages.
        before: the previous copy; None when there is none.
        after: the current copy; None when the mart was never built.
        key: the columns that pair rows; without one (or when it is not unique) rows are only
            counted as added or removed.
        limit: how many changed values to list (0: all).

    Returns:
        The schema change, rows added/removed/changed, each column's share of equal values
        among the paired rows and the first `limit` changed values in key order.

    Example:
        >>> old = pd.DataFrame({"segment_name": ["sellers"], "activation_rate": [0.484]})
        >>> new = pd.DataFrame({"segment_name": ["sellers"], "activation_rate": [0.479]})
        >>> diff_tables("segment_summary", old, new, ["segment_name"]).changes[0].text
        'activation_rate, sellers: 48.4% → 47.9%'
    """
    if after is None:
        return MartDiff(name, DiffState.MISSING, tuple(key))
    after = _to_arrow(after)
    if before is None:
        return MartDiff(name, DiffState.NEW, tuple(key), rows_after=after.num_rows)
    before = _to_arrow(before)
    schema = _schema_change(before.schema, after.schema)
    common = _common_columns(before, after)
    key = tuple(key)
    note = ""
    if key and not all(k in common for k in key):
        note = f"key ({', '.join(key)}) not in both copies: rows compared whole"
    elif key:
        kb, ka = _key_index(before, key), _key_index(after, key)
        if kb.is_unique and ka.is_unique:
            return _diff_keyed(name, before, after, key, kb, ka, common, schema, limit)
        note = f"key ({', '.join(key)}) is not unique: rows compared whole"
    return _diff_whole(name, before, after, key, schema, note)


def _diff_keyed(
    name: str,
    before: pa.Table,
    after: pa.Table,
    key: tuple[str, ...],
    kb: pd.Index,
    ka: pd.Index,
    common: list[str],
    schema: SchemaChange,
    limit: int,
) -> MartDiff:
    found = kb.get_indexer(ka)  # for each row after: its row before, or -1
    rows_a = np.flatnonzero(found >= 0)
    rows_b = found[rows_a]
    added = np.flatnonzero(found < 0)
    removed = np.setdiff1d(np.arange(before.num_rows), rows_b)
    values = [c for c in common if c not in key]
    take_b, take_a = pa.array(rows_b, pa.int64()), pa.array(rows_a, pa.int64())
    unequal: dict[str, np.ndarray] = {}
    share: dict[str, float] = {}
    for column in values:
        same = arrays_equal(_column(before, column).take(take_b),
                            _column(after, column).take(take_a))
        if len(same):
            share[column] = float(same.mean())
        if not same.all():
            unequal[column] = ~same
    changed_mask = np.zeros(len(rows_a), dtype=bool)
    for mask in unequal.values():
        changed_mask |= mask
    changed = _in_key_order(ka, rows_a, np.flatnonzero(changed_mask))
    changes = _value_changes(before, after, key, rows_b, rows_a, changed, unequal, limit)
    state = (DiffState.CHANGED if schema or len(added) or len(removed) or len(changed)
             else DiffState.UNCHANGED)
    return MartDiff(
        name, state, key, before.num_rows, after.num_rows, schema,
        rows_added=len(added), rows_removed=len(removed), rows_changed=len(changed),
        equal_share=share, changed_columns=tuple(unequal),
        changes=changes, changes_total=int(sum(m.sum() for m in unequal.values())),
        added_keys=_keys(ka, added[:5]), removed_keys=_keys(kb, removed[:5]),
    )


def _diff_whole(
    name: str,
    before: pa.Table,
    after: pa.Table,
    key: tuple[str, ...],
    schema: SchemaChange,
    note: str,
) -> MartDiff:
    """Without a usable key: rows are added or removed as a whole (a multiset difference)."""
    columns = _common_columns(before, after)
    hb = _row_hashes(before.select(columns)).value_counts()
    ha = _row_hashes(after.select(columns)).value_counts()
    both = hb.index.union(ha.index)
    delta = ha.reindex(both, fill_value=0) - hb.reindex(both, fill_value=0)
    added, removed = int(delta.clip(lower=0).sum()), int((-delta).clip(lower=0).sum())
    state = DiffState.CHANGED if schema or added or removed else DiffState.UNCHANGED
    return MartDiff(name, state, key, before.num_rows, after.num_rows, schema, rows_added=added,
                    rows_removed=removed, note=note or "no key: rows compared whole")


def summary_line(d: MartDiff) -> str:
    """One line per mart for the end of `runner build`.

    Example:
        >>> summary_line(MartDiff("segment_summary", DiffState.CHANGED, ("segment_name",), 3, 3,
        ...     rows_changed=2, changed_columns=("activation_rate",)))
        'segment_summary: 2 rows changed (activation_rate)'
    """
    if d.state == DiffState.NEW:
        return f"{d.name}: first build ({d.rows_after:,} rows)"
    if d.state == DiffState.MISSING:
        return f"{d.name}: not built"
    if d.state == DiffState.UNCHANGED:
        return f"{d.name}: unchanged ({d.rows_after:,} rows)"
    parts = []
    if d.rows_changed:
        shown = ", ".join(d.changed_columns[:3])
        more = f", +{len(d.changed_columns) - 3} more" if len(d.changed_columns) > 3 else ""
        parts.append(f"{_rows(d.rows_changed)} changed ({shown}{more})")
    if d.rows_added:
        parts.append(f"{_rows(d.rows_added)} added")
    if d.rows_removed:
        parts.append(f"{_rows(d.rows_removed)} removed")
    s = d.schema
    if s:
        cols = ([f"+{c}" for c, _ in s.added] + [f"-{c}" for c, _ in s.removed]
                + [f"~{c}" for c, _, _ in s.retyped])
        parts.append(f"columns {' '.join(cols)}")
    return f"{d.name}: {', '.join(parts)}"


def to_json(diffs: Sequence[MartDiff]) -> dict[str, Any]:
    """The `--output json` document of `runner diff`."""

    def one(d: MartDiff) -> dict[str, Any]:
        return {
            "name": d.name,
            "state": str(d.state),
            "summary": summary_line(d),
            "key": list(d.key),
            "rows": {"before": d.rows_before, "after": d.rows_after, "added": d.rows_added,
                     "removed": d.rows_removed, "changed": d.rows_changed},
            "schema": {
                "added": [{"column": c, "type": t} for c, t in d.schema.added],
                "removed": [{"column": c, "type": t} for c, t in d.schema.removed],
                "retyped": [{"column": c, "before": b, "after": a} for c, b, a in d.schema.retyped],
            },
            "equal_share": d.equal_share,
            "changed_columns": list(d.changed_columns),
            "changes": [
                {"key": dict(zip(d.key, jsonable(list(c.key)), strict=True)), "column": c.column,
                 "before": jsonable(c.before), "after": jsonable(c.after), "text": c.text}
                for c in d.changes
            ],
            "changes_total": d.changes_total,
            "added_keys": [jsonable(list(k)) for k in d.added_keys],
            "removed_keys": [jsonable(list(k)) for k in d.removed_keys],
            "built_before": d.built_before.isoformat() if d.built_before else None,
            "built_after": d.built_after.isoformat() if d.built_after else None,
            "note": d.note,
        }

    return {"marts": [one(d) for d in diffs]}


# -- the project's marts ---------------------------------------------------------------------


def diff_mart(cp: CompiledProject, name: str, *, limit: int = 20) -> MartDiff:
    """Diff model `name`'s current Parquet copy against its previous one."""
    marts_dir = cp.project.target_layout.marts
    current, previous = marts_dir / name, previous_copy(marts_dir, name)
    after, before = load_copy(current), load_copy(previous)
    d = diff_tables(name, before, after, mart_key(cp, name), limit=limit)
    return replace(d, built_before=_built_at(previous), built_after=_built_at(current))


def diff_project(cp: CompiledProject, *, limit: int = 20) -> list[MartDiff]:
    """Diff every selected table-like model, in build order."""
    return [diff_mart(cp, n, limit=limit) for n in cp.selected
            if cp.models[n].config.materialized in TABLE_LIKE]


def build_changes(cp: CompiledProject, run: RunResult) -> list[str]:
    """The end of `runner build`: a line per mart the run rebuilt that changed, one for the rest.

    Raises:
        RunnerError: a Parquet copy could not be read.
    """
    built = [r.name for r in run.results
             if r.resource_type == ResourceType.MODEL and r.status == NodeStatus.SUCCESS
             and r.materialized in TABLE_LIKE and not r.reused]
    diffs = [diff_mart(cp, name, limit=1) for name in built]
    lines = [summary_line(d) for d in diffs if d.state != DiffState.UNCHANGED]
    same = [d.name for d in diffs if d.state == DiffState.UNCHANGED]
    if same:
        lines.append(f"{', '.join(same)}: unchanged")
    return lines


def load_copy(folder: Path) -> pa.Table | None:
    """A Parquet copy as an Arrow table; None when there is none.

    Raises:
        RunnerError: the folder holds something pyarrow cannot read.
    """
    if not (folder / "_SUCCESS").exists():
        return None
    try:
        return pq.read_table(folder)
    except (OSError, pa.ArrowException) as exc:
        raise RunnerError(f"cannot read the Parquet copy {folder}: {exc}",
                          hint="rebuild the mart (runner build -s <mart>)") from exc


# -- helpers ---------------------------------------------------------------------------------


def _to_arrow(data: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False)
    return data


def _common_columns(before: pa.Table, after: pa.Table) -> list[str]:
    """Columns of both copies with the same type, in the current copy's order."""
    old = {f.name: f.type for f in before.schema}
    return [f.name for f in after.schema if f.name in old and old[f.name] == f.type]


def _column(table: pa.Table, name: str) -> pa.Array:
    return combine(table.column(name))


def _schema_change(before: pa.Schema, after: pa.Schema) -> SchemaChange:
    old = {f.name: f.type for f in before}
    new = {f.name: f.type for f in after}
    return SchemaChange(
        added=tuple((c, str(t)) for c, t in new.items() if c not in old),
        removed=tuple((c, str(t)) for c, t in old.items() if c not in new),
        retyped=tuple((c, str(old[c]), str(t)) for c, t in new.items() if c in old and old[c] != t),
    )


def _key_index(table: pa.Table, key: tuple[str, ...]) -> pd.Index:
    arrays = [table.column(k).to_pandas() for k in key]
    if len(arrays) == 1:
        return pd.Index(arrays[0])
    return pd.MultiIndex.from_arrays(arrays)


def _in_key_order(index: pd.Index, rows: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """`picked` (positions into `rows`) sorted by the key of their row in `index`."""
    try:
        order = np.asarray(index.take(rows[picked]).argsort())
    except TypeError:  # keys of mixed types do not sort; keep the copy's order
        return picked
    return picked[order]


def _value_changes(
    before: pa.Table,
    after: pa.Table,
    key: tuple[str, ...],
    rows_b: np.ndarray,
    rows_a: np.ndarray,
    changed: np.ndarray,
    unequal: dict[str, np.ndarray],
    limit: int,
) -> tuple[ValueChange, ...]:
    """The changed values of the `changed` paired rows, row by row, the first `limit` of them."""
    picked = changed if limit <= 0 else changed[:limit]  # every changed row has a change
    take_b = pa.array(rows_b[picked], pa.int64())
    take_a = pa.array(rows_a[picked], pa.int64())
    keys = list(zip(*(after.column(k).take(take_a).to_pylist() for k in key), strict=True))
    values = {c: (before.column(c).take(take_b).to_pylist(),
                  after.column(c).take(take_a).to_pylist(), after.schema.field(c).type)
              for c in unequal}
    out: list[ValueChange] = []
    for i, position in enumerate(picked):
        for column, mask in unequal.items():
            if not mask[position]:
                continue
            old, new, type_ = values[column]
            text = format_change(column, keys[i], old[i], new[i], type_)
            out.append(ValueChange(keys[i], column, old[i], new[i], text))
            if 0 < limit <= len(out):
                return tuple(out)
    return tuple(out)


def _keys(index: pd.Index, rows: np.ndarray) -> tuple[tuple[Any, ...], ...]:
    taken = index.take(rows)
    return tuple(tuple(k) if isinstance(k, tuple) else (k,) for k in taken)


def _row_hashes(table: pa.Table) -> pd.Series:
    frame = table.to_pandas()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(repr)
    return pd.util.hash_pandas_object(frame, index=False)


def _built_at(folder: Path) -> datetime | None:
    marker = folder / "_SUCCESS"
    if not marker.exists():
        return None
    return datetime.fromtimestamp(marker.stat().st_mtime, UTC)


def _rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"
