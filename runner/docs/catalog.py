"""What the documentation site shows, as one JSON-ready dict: every source, model, column, data
test, dashboard and chart with its description; the table graph with each node's layer (its
depth in the graph); and the column lineage (each column's parent columns, each chart's mart
columns).

Ids: `source.<source>.<table>`, `model.<name>`, `chart.<dashboard slug>.<key>`,
`dashboard.<slug>`; a column is `<node id>:<column>`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner import __version__
from runner.chart_check import ChartRef, chart_fields, chart_reads, charts, source_columns
from runner.compile import CompiledProject
from runner.datatests.collect import DataTest
from runner.lineage import Col, ColumnGraph, trace
from runner.project import Column
from runner.superset.definitions import Definitions
from runner.templating import source_view_name

Node = dict[str, Any]


def project_lineage(cp: CompiledProject) -> ColumnGraph:
    """Column lineage of every model of a compiled project, in graph order."""
    models = [(name, cp.models[name].sql) for name in cp.graph.order()]
    return trace(models, source_columns(cp.project.sources))


def build_catalog(
    cp: CompiledProject, columns: ColumnGraph, dashboards: Iterable[tuple[Path, Definitions]]
) -> dict[str, Any]:
    """Every node of the site, the column lineage, and a few counts."""
    dashboards = list(dashboards)
    relation_ids = {source_view_name(*key): _source_id(*key) for key in cp.project.sources}
    relation_ids.update({name: f"model.{name}" for name in cp.models})
    nodes = _source_nodes(cp) + _model_nodes(cp, columns, relation_ids)
    refs = charts(cp.project, dashboards)
    nodes += _chart_nodes(refs, set(cp.models)) + _dashboard_nodes(cp, dashboards)
    _set_layers(nodes)
    lineage = {
        f"model.{model.name}:{column}": [
            _col_key(p, relation_ids) for p in parents if p.relation in relation_ids
        ]
        for model in columns.models.values()
        for column, parents in model.parents.items()
    }
    return {
        "project": cp.project.config.name,
        "target": cp.target.name,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "runner_version": __version__,
        "nodes": nodes,
        "lineage": lineage,
        "counts": {
            "sources": len(cp.project.sources),
            "models": len(cp.models),
            "columns": sum(len(m.columns) for m in columns.models.values()),
            "tests": len(cp.tests),
            "charts": len(refs),
        },
    }


def to_js(catalog: Mapping[str, Any]) -> str:
    """The catalog as a script that sets `window.RUNNER_DOCS` (a page opened from a file may
    load scripts, but not fetch JSON)."""
    return f"window.RUNNER_DOCS = {json.dumps(catalog, indent=None, sort_keys=False)};\n"


def _source_id(source: str, table: str) -> str:
    return f"source.{source}.{table}"


def _col_key(col: Col, relation_ids: Mapping[str, str]) -> str:
    return f"{relation_ids[col.relation]}:{col.name}"


def _source_nodes(cp: CompiledProject) -> list[Node]:
    out = []
    for (source, table), src in sorted(cp.project.sources.items()):
        out.append({
            "id": _source_id(source, table), "kind": "source", "name": table,
            "label": f"{source}.{table}", "group": source, "description": src.description,
            "path": src.yaml_path.as_posix() if src.yaml_path else "", "file": src.file,
            "parents": [],
            "columns": [_column(c) for c in src.columns],
        })
    return out


def _model_nodes(
    cp: CompiledProject, columns: ColumnGraph, relation_ids: Mapping[str, str]
) -> list[Node]:
    tests_of: dict[str, list[DataTest]] = {}
    for test in cp.tests.values():
        for attached in test.attached:
            tests_of.setdefault(attached, []).append(test)
    out = []
    for name in cp.graph.order():
        compiled, model = cp.models[name], cp.project.models[name]
        traced = columns.models.get(name)
        docs = {c.name: c for c in model.columns}
        names = list(traced.columns if traced else ()) + [c for c in docs if c not in (
            traced.columns if traced else ())]
        tests = sorted(tests_of.get(name, []), key=lambda t: (t.column or "", t.name))
        out.append({
            "id": f"model.{name}", "kind": "model", "name": name, "label": name,
            "group": model.fqn[0] if len(model.fqn) > 1 else "models",
            "description": model.description, "path": model.path.as_posix(),
            "materialized": compiled.config.materialized, "tags": list(compiled.config.tags),
            "sql": compiled.sql,
            "parents": [relation_ids[source_view_name(*s)] for s in compiled.sources]
            + [f"model.{r}" for r in compiled.refs],
            "columns": [
                {**_column(docs.get(c, Column(c))),
                 "in_sql": traced is None or bool(traced.error) or c in traced.columns,
                 "tests": [t.kind for t in tests if t.column == c]}
                for c in names
            ],
            "tests": [_test(t) for t in tests],
            "lineage_error": traced.error if traced else None,
        })
    return out


def _chart_nodes(refs: list[ChartRef], models: set[str]) -> list[Node]:
    out = []
    for ref in refs:
        ds, chart = ref.dataset, ref.chart
        is_model = ds.mart in models  # else a table the runner writes (build_info)
        exprs = {c.name: c.expression for c in ds.columns if c.expression}
        exprs.update({m.name: m.expression for m in ds.metrics})
        out.append({
            "id": f"chart.{ref.name}", "kind": "chart", "name": ref.key, "label": ref.key,
            "group": ref.dashboard, "title": chart.title,
            "description": chart.description or "", "path": ref.path.as_posix(),
            "chart_type": chart.type, "dataset": ds.name,
            "dataset_description": ds.description or "",
            "mart": ds.mart, "parents": [f"model.{ds.mart}"] if is_model else [],
            "fields": [{"field": f, "name": n, "kind": k, "expression": exprs.get(n)}
                       for f, n, k in chart_fields(chart)],
            "reads": [f"model.{ds.mart}:{c}" for c in sorted(chart_reads(ref)) if is_model],
        })
    return out


def _dashboard_nodes(
    cp: CompiledProject, dashboards: list[tuple[Path, Definitions]]
) -> list[Node]:
    out = []
    for _, defs in dashboards:
        for path, dash in defs.dashboards.items():
            ids = {key: f"chart.{dash.slug}.{key}" for key in dash.charts}
            out.append({
                "id": f"dashboard.{dash.slug}", "kind": "dashboard", "name": dash.slug,
                "label": dash.title, "group": "dashboards", "description": "",
                "path": path.resolve().relative_to(cp.project.dir.resolve()).as_posix(),
                "parents": list(ids.values()),
                "sections": [{"title": s.section, "charts": [ids[k] for row in s.rows for k in row]}
                             for s in dash.layout],
            })
    return out


def _set_layers(nodes: list[Node]) -> None:
    """Each node's layer: sources 0, a model one past its deepest parent (a model no model reads
    in the last model layer), then every chart in one layer, and dashboards after the charts."""
    by_id = {n["id"]: n for n in nodes}

    def layer(node: Node) -> int:
        if "layer" not in node:
            parents = [by_id[p] for p in node["parents"] if p in by_id]
            node["layer"] = 1 + max((layer(p) for p in parents), default=-1)
        return int(node["layer"])

    for node in nodes:
        if node["kind"] in ("source", "model"):
            layer(node)
    deepest = max((n["layer"] for n in nodes if "layer" in n), default=0)
    read = {p for n in nodes if n["kind"] == "model" for p in n["parents"]}
    for node in nodes:  # models nothing reads (the marts) line up in the last model layer
        if node["kind"] == "model" and node["id"] not in read:
            node["layer"] = deepest
    for node in nodes:
        if node["kind"] == "chart":
            node["layer"] = deepest + 1
        elif node["kind"] == "dashboard":
            node["layer"] = deepest + 2


def _column(col: Column) -> dict[str, Any]:
    return {"name": col.name, "description": col.description, "type": col.data_type or ""}


def _test(test: DataTest) -> dict[str, Any]:
    args = {k: v for k, v in test.kwargs.items() if k not in ("column_name", "model")}
    return {
        "name": test.name, "kind": test.kind, "column": test.column, "severity": test.severity,
        "args": json.dumps(args, default=str) if args else "", "path": test.path.as_posix(),
        "where": test.where or "",
    }
