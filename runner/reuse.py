"""Fingerprints of models and tests, and the reuse of what the last build left.

Every model has a fingerprint: its compiled SQL, its config, the values of the vars its
rendering read, the target, the fingerprints of the models it refs, and each raw file it reads
(path, size, modification time and a digest of its first and last 64 KiB). A data test's covers
its SQL, config and what it reads; a unit test's, its model's SQL on the given rows and the rows.
A persisted model (`persist: true`) and a table-like model's Parquet copy store the fingerprint
next to their rows (`_fingerprint.json`, swapped in with them), so `stored_rows_current` can tell
whether those rows are still what the model computes. `runner.reuse_record` decides from these
which nodes a build reuses; `plan_inputs` reads the unselected upstream models a build needs:
`runner build -s one_mart` plans its inputs from the selection upwards and stops at every
persisted model whose stored fingerprint matches: neither it nor anything above it is read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from runner import __version__, reuse_record
from runner.cassandra.copy_check import unconfirmed_tables
from runner.results import Callback, Info, ResourceType
from runner.reuse_record import Candidate, Recorded
from runner.spark.fingerprint_file import stored_fingerprint
from runner.spark.materializations import dirty_marker
from runner.spark.sources import source_file

if TYPE_CHECKING:
    from runner.compile import CompiledProject
    from runner.datatests.collect import DataTest

EDGE_BYTES = 64 * 1024
TABLE_LIKE = ("table", "cassandra", "incremental")  # kept as a Parquet copy under marts/


class InputKind(StrEnum):
    REUSED = "reused"  # persisted Parquet with a matching fingerprint
    PARQUET = "parquet"  # a table-like model's copy from its last build
    PERSIST = "persist"  # a persisted model computed again (its rows changed or are missing)
    VIEW = "view"  # computed from its SQL (lazily, inside its readers' plans)


@dataclass(frozen=True)
class InputPlan:
    """How each unselected model a build reads is provided, in graph order, and the sources
    those computed from SQL read."""

    models: tuple[tuple[str, InputKind], ...] = ()
    sources: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def names(self, kind: InputKind) -> list[str]:
        return [name for name, k in self.models if k == kind]


def file_fingerprint(path: Path) -> dict[str, object]:
    """What identifies a raw file's content cheaply: size, mtime and its first and last bytes.

    A rewrite that keeps size and modification time and changes only the middle goes unseen;
    an append, a truncation or any rewrite through normal tools does not.
    """
    try:
        info = path.stat()
    except OSError:
        return {"path": str(path), "missing": True}
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(EDGE_BYTES))
        if info.st_size > EDGE_BYTES:
            fh.seek(max(EDGE_BYTES, info.st_size - EDGE_BYTES))
            digest.update(fh.read(EDGE_BYTES))
    return {"path": str(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns,
            "edges": digest.hexdigest()}


def model_fingerprints(cp: CompiledProject) -> dict[str, str]:
    """The fingerprint of every enabled model, upstream first.

    It covers the compiled SQL, the config, the values of the vars its rendering read, the
    target, the fingerprints of the models it refs and its raw files' identity
    (`file_fingerprint`): a change to any of them changes it and every downstream one.
    """
    files = _SourceFiles(cp)
    values = {**cp.project.config.vars, **cp.vars}
    out: dict[str, str] = {}
    for name in cp.graph.order():
        model = cp.models[name]
        out[name] = _digest({
            "runner": __version__,
            "target": cp.target.name,
            "sql": model.sql,
            "config": model.config.model_dump(mode="json"),
            "vars": {v: values.get(v) for v in model.vars},
            "refs": {ref: out[ref] for ref in model.refs},
            "sources": {f"{s}.{t}": files.identity((s, t)) for s, t in model.sources},
        })
    return out


def fingerprint_tests(cp: CompiledProject, models: Mapping[str, str],
                      store_failures: bool = False) -> dict[str, str]:
    """The fingerprint of every data test and unit test, by unique id.

    A data test's covers its compiled SQL, severity, `where`, whether its failing rows are stored
    (its store_failures, else the command's `store_failures`) and what it reads
    (`models`: the models' fingerprints, and its sources' files); a unit test's covers the
    model's SQL on the given rows, the given and the expected rows, and the SQL of the models
    above it (their schemas give the columns of inputs left out); never the data.
    """
    files = _SourceFiles(cp)
    out: dict[str, str] = {}
    for test in cp.tests.values():
        out[test.unique_id] = _digest({
            "runner": __version__,
            "target": cp.target.name,
            "sql": test.sql,
            "config": {"severity": test.severity, "where": test.where,
                       "store_failures": stores_failures(test, store_failures)},
            "refs": {ref: models[ref] for ref in test.refs},
            "sources": {f"{s}.{t}": files.identity((s, t)) for s, t in test.sources},
        })
    for unit in cp.unit_tests.values():
        out[unit.unique_id] = _digest({
            "runner": __version__,
            "target": cp.target.name,
            "sql": unit.compiled.sql,
            "given": [[g.input, [dict(r.values) for r in g.rows]] for g in unit.given],
            "expect": [dict(r.values) for r in unit.expect],
            "columns": list(unit.expect_columns),
            "upstream": {a: cp.models[a].sql for a in sorted(cp.graph.ancestors(unit.model))},
            "sources": {f"{s}.{t}": [c.name for c in cp.project.sources[(s, t)].columns]
                        for s, t in sorted(cp.project.sources)},
        })
    return out


class _SourceFiles:
    """Each raw file's identity, read once per command."""

    def __init__(self, cp: CompiledProject) -> None:
        self.cp = cp
        self.known: dict[tuple[str, str], dict[str, object]] = {}

    def identity(self, key: tuple[str, str]) -> dict[str, object]:
        if key not in self.known:
            table = self.cp.project.sources[key]
            self.known[key] = {
                "file": file_fingerprint(source_file(self.cp.project, table, self.cp.vars)),
                "format": table.format,
                "columns": [[c.name, c.data_type] for c in table.columns],
            }
        return self.known[key]


def _digest(payload: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def stored_rows_current(cp: CompiledProject, name: str, fingerprint: str) -> bool:
    """Whether the rows a model keeps in target/ were computed with `fingerprint`.

    A persisted view keeps them under `persisted/`, a table-like model in its Parquet copy
    under `marts/` (not after a Cassandra write that did not finish); another view keeps none,
    so it is always current.
    """
    model = cp.models[name]
    layout = cp.project.target_layout
    if model.config.materialized in TABLE_LIKE:
        return (stored_fingerprint(layout.marts / name) == fingerprint
                and not dirty_marker(layout.marts, name).exists())
    if model.config.persist:
        return stored_fingerprint(layout.persisted / name) == fingerprint
    return True


def reused_nodes(
    cp: CompiledProject,
    nodes: Sequence[tuple[ResourceType, str]],
    fingerprints: Mapping[str, str],
    prints: Mapping[str, str],
    record: Mapping[str, Recorded],
    callback: Callback,
    store_failures: bool = False,
) -> dict[str, Recorded]:
    """The planned nodes whose last good result still holds (`runner.reuse_record`), by id.

    A model's stored rows must be current (`stored_rows_current`); a test reading a model that
    is not built must find that model's rows current too, and a test that stores its failing
    rows must find them stored (a test with none to store runs again). A Cassandra mart also
    needs its table to hold its Parquet copy (read-only checks, `runner.cassandra.copy_check`);
    one that does not is written again, with what reads it.

    Args:
        cp: the compiled project.
        nodes: the build's steps in plan order, as (resource type, name).
        fingerprints: every model's fingerprint, by name.
        prints: every node's fingerprint, by unique id.
        record: the last good results.
        callback: told which marts are written again and why.
        store_failures: the command's --store-failures.
    """
    in_build = {name for kind, name in nodes if kind == ResourceType.MODEL}
    current: dict[str, bool] = {}

    def stored(name: str) -> bool:
        if name not in current:
            current[name] = stored_rows_current(cp, name, fingerprints[name])
        return current[name]

    def candidates() -> list[Candidate]:
        out = []
        for kind, name in nodes:
            if kind == ResourceType.MODEL:
                above = cp.graph.ancestors(name) & in_build
                ok = stored(name)
            elif kind == ResourceType.TEST:
                test = cp.tests[name]
                refs = set(test.refs)
                above = (refs | {a for r in refs for a in cp.graph.ancestors(r)}) & in_build
                ok = all(stored(r) for r in refs - in_build) and (
                    not stores_failures(test, store_failures)
                    or (cp.project.target_layout.test_failures / name).is_dir())
            else:
                above, ok = set(), True
            uid = f"{kind}.{name}"
            out.append(Candidate(uid, prints[uid], ok,
                                 tuple(reuse_record.model_id(m) for m in sorted(above))))
        return out

    reused = reuse_record.choose_reused(candidates(), record, full_refresh=False)
    cassandra = cp.target.cassandra
    marts = {name: (cp.project.target_layout.marts / name, cp.models[name].config)
             for name in sorted(in_build)
             if reuse_record.model_id(name) in reused
             and cp.models[name].config.materialized == "cassandra"}
    if cassandra is not None and marts:
        unconfirmed = unconfirmed_tables(cassandra, marts)
        for name, why in sorted(unconfirmed.items()):
            callback(Info(f"Writing {name} again: {cassandra.keyspace}.{name} does not hold its "
                          f"Parquet copy ({why})"))
            current[name] = False
        if unconfirmed:
            reused = reuse_record.choose_reused(candidates(), record, full_refresh=False)
    return reused


def reuse_summary(
    nodes: Sequence[tuple[ResourceType, str]], reused: Mapping[str, object]
) -> str | None:
    """One line: how much of the build is reused, or that nothing changed; None: nothing is.

    Example:
        >>> nodes = [(ResourceType.MODEL, "a"), (ResourceType.TEST, "t")]
        >>> reuse_summary(nodes, {"model.a": 1, "test.t": 1})
        'Nothing changed since the last build: reusing 1 of 1 models, 1 of 1 tests'
        >>> reuse_summary(nodes, {"model.a": 1})
        'Reusing what did not change: 1 of 1 models, 0 of 1 tests'
    """
    if not reused:
        return None
    counts = []
    for kind, word in ((ResourceType.MODEL, "models"), (ResourceType.TEST, "tests"),
                       (ResourceType.UNIT_TEST, "unit tests")):
        planned = [name for k, name in nodes if k == kind]
        if planned:
            same = sum(1 for name in planned if f"{kind}.{name}" in reused)
            counts.append(f"{same} of {len(planned)} {word}")
    if len(reused) == len(nodes):
        return f"Nothing changed since the last build: reusing {', '.join(counts)}"
    return f"Reusing what did not change: {', '.join(counts)}"


def persisted_dir(cp: CompiledProject) -> Path:
    """`<target>/persisted`, where `persist: true` models keep their rows."""
    return cp.project.target_layout.persisted


def plan_inputs(
    cp: CompiledProject,
    built: Iterable[str],
    read: Iterable[str] = (),
    *,
    fingerprints: Mapping[str, str] | None = None,
    reuse: bool = True,
    has_parquet: Mapping[str, bool] | None = None,
) -> InputPlan:
    """How to provide the unselected models that `built` and `read` need, walking upwards.

    A persisted model with a matching stored fingerprint is REUSED and a table-like model
    with a copy from an earlier build is read from PARQUET: the walk stops there. With
    `fingerprints`, any other persisted model is computed again (PERSIST); everything else is
    a VIEW. The walk goes on to their refs and sources.

    Args:
        cp: the compiled project.
        built: the models this command builds (not planned, their refs are).
        read: models read without being built (by tests), planned like refs.
        fingerprints: the models' current fingerprints (a build); None: nothing is reused
            or persisted (`runner show`).
        reuse: False with --full-refresh: persisted models are computed again.
        has_parquet: which table-like models have a copy (default: look in target/marts).
    """
    built = set(built)
    marts = cp.project.target_layout.marts
    stored_dir = persisted_dir(cp)
    kinds: dict[str, InputKind] = {}
    sources: set[tuple[str, str]] = set()
    todo = [r for n in built for r in cp.models[n].refs] + [n for n in read if n not in built]
    sources.update(s for n in built for s in cp.models[n].sources)
    while todo:
        name = todo.pop()
        if name in kinds or name in built:
            continue
        model = cp.models[name]
        if (fingerprints is not None and reuse and model.config.persist
                and stored_fingerprint(stored_dir / name) == fingerprints[name]):
            kinds[name] = InputKind.REUSED
            continue
        if model.config.materialized in TABLE_LIKE:
            exists = (has_parquet[name] if has_parquet is not None and name in has_parquet
                      else (marts / name / "_SUCCESS").exists())
            if exists:
                kinds[name] = InputKind.PARQUET
                continue
        persist = fingerprints is not None and model.config.persist
        kinds[name] = InputKind.PERSIST if persist else InputKind.VIEW
        todo.extend(model.refs)
        sources.update(model.sources)
    order = cp.graph.order(set(kinds))
    return InputPlan(tuple((n, kinds[n]) for n in order), frozenset(sources))


def stores_failures(test: DataTest, store_failures: bool) -> bool:
    """Whether a test's failing rows are stored: its own store_failures, else the command's."""
    return store_failures if test.store_failures is None else test.store_failures
