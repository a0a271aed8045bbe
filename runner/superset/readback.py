"""Read Superset's stored charts and layout back into the terms of `dashboards/*.yml`.

The inverse of `runner.superset.charts`: a chart's form data becomes the fields of its YAML spec
(`read_chart`), `position_json` becomes layout rows and grid sizes (`read_layout`), and
`fingerprint` marks what the runner wrote, so a later sync can tell a UI edit from its own work.
Pure functions; `edits.py` and `export.py` fetch the JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pydantic

from runner.superset.charts import (
    BIG_NUMBER_HEIGHT,
    CHART_HEIGHT,
    HASH_KEY,
    VIZ,
    fingerprint,
    row_widths,
)
from runner.superset.definitions import Chart, DashboardDef

LAYOUT_FIELDS = ("width", "height")
_TYPE_OF_VIZ = {viz: kind for kind, viz in VIZ.items()}
_CHART = pydantic.TypeAdapter(Chart)


def was_edited(row: dict[str, Any]) -> bool:
    """Whether a chart (a row of Superset's chart API) changed since the runner wrote it.

    A chart without the hash but with the runner's owner mark predates the hash: not edited.
    """
    params = json.loads(row.get("params") or "{}")
    stored = params.get(HASH_KEY)
    if stored is None:
        return "runner_owner" not in params
    now = fingerprint(row["slice_name"], row.get("description"), row["viz_type"], params)
    return bool(stored != now)


@dataclass(frozen=True)
class ReadChart:
    """A chart read back: its spec, and what the YAML cannot express (kept as the YAML has it)."""

    spec: Chart
    unexpressible: list[str] = field(default_factory=list)


def _names(values: Any, what: str, notes: list[str]) -> list[str] | None:
    """Plain names of a list of metrics/columns; None (and a note) when one is ad hoc."""
    if not isinstance(values, list):
        return None
    if all(isinstance(v, str) for v in values):
        return list(values)
    notes.append(f"{what}: an ad hoc entry (define it in datasets.yml and pick it by name)")
    return None


def _order_by(cols: Any) -> list[str]:
    out = []
    for item in cols or []:
        name, asc = json.loads(item) if isinstance(item, str) else item
        out.append(name if asc else f"{name} desc")
    return out


def _read_fields(kind: str, p: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The spec fields one chart type keeps in its form data (None: not readable)."""
    if kind == "big_number":
        metric = p.get("metric")
        if not isinstance(metric, str):
            notes.append("metric: an ad hoc metric (define it in datasets.yml)")
            metric = None
        return {"metric": metric, "format": p.get("y_axis_format") or "SMART_NUMBER",
                "subheader": p.get("subheader") or "",
                "time_format": p.get("time_format") if p.get("force_timestamp_formatting")
                else None}
    if kind in ("bar", "line"):
        x = p.get("x_axis")
        return {"x": x if isinstance(x, str) else None,
                "metrics": _names(p.get("metrics"), "metrics", notes),
                "groupby": _names(p.get("groupby") or [], "groupby", notes),
                "format": p.get("y_axis_format") or "SMART_NUMBER",
                "row_limit": p.get("row_limit"), "stacked": p.get("stack") == "Stack",
                "horizontal": kind == "bar" and p.get("orientation") == "horizontal",
                "time_grain": p.get("time_grain_sqla") if kind == "line" else None}
    formats = {c: conf["d3NumberFormat"] for c, conf in (p.get("column_config") or {}).items()
               if isinstance(conf, dict) and conf.get("d3NumberFormat")}
    common = {"row_limit": p.get("row_limit"), "page_length": p.get("page_length") or 0,
              "search": bool(p.get("include_search")), "formats": formats}
    if p.get("query_mode") == "raw":
        return {**common, "columns": _names(p.get("all_columns"), "columns", notes),
                "groupby": [], "metrics": [],
                "order_by": _order_by(p.get("order_by_cols"))}
    # aggregate tables keep their order in the query only: the YAML's order_by stays
    return {**common, "columns": None, "groupby": _names(p.get("groupby") or [], "groupby", notes),
            "metrics": _names(p.get("metrics"), "metrics", notes)}


def read_chart(row: dict[str, Any], base: Chart, dataset_names: dict[int, str]) -> ReadChart:
    """The YAML spec of a stored chart; what it cannot express keeps `base`'s value.

    Args:
        row: the chart as Superset's chart API returns it (params as a JSON string).
        base: the chart's spec in the YAML now (dataset, width, height and unreadable fields).
        dataset_names: dataset name by Superset id, to read a changed data source.
    """
    notes: list[str] = []
    params = json.loads(row.get("params") or "{}")
    kind = _TYPE_OF_VIZ.get(str(row.get("viz_type")))
    if kind is None:
        notes.append(f"type: Superset viz '{row.get('viz_type')}' has no chart type here")
        kind = base.type
    values = base.model_dump()
    values.update(
        type=kind,
        title=row.get("slice_name") or base.title,
        description=row.get("description") or None,
        dataset=dataset_names.get(int(row.get("datasource_id") or 0), base.dataset),
    )
    if kind != base.type:  # fields of the old type do not carry over
        values = {k: values[k] for k in ("type", "title", "dataset", "description", *LAYOUT_FIELDS)}
    values.update({k: v for k, v in _read_fields(kind, params, notes).items() if v is not None})
    wheres = [f["sqlExpression"] for f in params.get("adhoc_filters") or []
              if f.get("expressionType") == "SQL" and f.get("clause") == "WHERE"]
    if any(f.get("expressionType") == "SIMPLE" and f.get("comparator") != "No filter"
           for f in params.get("adhoc_filters") or []):
        notes.append("where: a filter picked in explore (write it as a SQL `where`)")
    values["where"] = " AND ".join(f"({w})" if len(wheres) > 1 else w for w in wheres) or None
    if kind == "table" and values.get("columns") is None:
        values.pop("columns", None)
    try:
        return ReadChart(_CHART.validate_python(values), notes)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "chart"
        return ReadChart(base, [*notes, f"{where}: {first['msg']}"])


def spec_differences(yaml_spec: Chart, superset_spec: Chart) -> list[tuple[str, Any, Any]]:
    """(field, Superset value, YAML value) of every chart field that differs, in field order.

    Example:
        >>> a = _CHART.validate_python({"type": "big_number", "title": "A", "dataset": "d",
        ...                             "metric": "m"})
        >>> spec_differences(a, a.model_copy(update={"title": "B"}))
        [('title', 'B', 'A')]
    """
    ours, theirs = yaml_spec.model_dump(), superset_spec.model_dump()
    return [(k, theirs.get(k), ours.get(k)) for k in {**ours, **theirs}
            if ours.get(k) != theirs.get(k)]


# ---------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class ReadLayout:
    """The layout on the dashboard: sections of rows of chart keys, and each chart's grid size."""

    sections: list[tuple[str, list[list[str]]]]
    sizes: dict[str, tuple[int, int]]  # key -> (width, height)
    missing: list[str]  # managed charts not on the dashboard (kept where the YAML has them)


def _charts_under(pos: dict[str, Any], node_id: str, keys: dict[str, str]) -> list[str]:
    """Chart ids under a node, depth first (columns and tabs inside a row flatten into it)."""
    node = pos.get(node_id) or {}
    if node.get("type") == "CHART":
        found = keys.get(str((node.get("meta") or {}).get("uuid")))
        return [node_id] if found else []
    return [c for child in node.get("children") or [] for c in _charts_under(pos, child, keys)]


def read_layout(position: dict[str, Any], uuids: dict[str, str], dash: DashboardDef) -> ReadLayout:
    """Sections, rows and sizes of a dashboard's `position_json`, for the charts in `uuids`.

    Rows above the first section header join the YAML's first section; charts the runner does
    not manage (made in the UI) and markdown are left out.
    """
    keys = {u: k for k, u in uuids.items()}
    sections: list[tuple[str, list[list[str]]]] = []
    sizes: dict[str, tuple[int, int]] = {}
    grid = (position.get("GRID_ID") or {}).get("children") or []
    for node_id in grid:
        node = position.get(node_id) or {}
        if node.get("type") == "HEADER":
            sections.append((str((node.get("meta") or {}).get("text") or ""), []))
            continue
        row = []
        for chart_id in _charts_under(position, node_id, keys):
            meta = position[chart_id]["meta"]
            key = keys[str(meta["uuid"])]
            row.append(key)
            sizes[key] = (int(meta.get("width") or 0), int(meta.get("height") or 0))
        if row:
            if not sections:
                sections.append((dash.layout[0].section, []))
            sections[-1][1].append(row)
    sections = [(title, rows) for title, rows in sections if rows]
    missing = [k for k in dash.charts if k not in sizes]
    return ReadLayout(sections, sizes, missing)


def size_changes(dash: DashboardDef, layout: ReadLayout) -> dict[str, dict[str, int | None]]:
    """The `width`/`height` each chart needs in the YAML so a sync reproduces `layout`.

    A row whose widths the YAML's widths already give keeps them; else every chart of the row
    gets its width. A height equal to the YAML's (or the default) stays as it is.
    """
    out: dict[str, dict[str, int | None]] = {}
    for _, rows in layout.sections:
        for row in rows:
            shown = [layout.sizes[k][0] for k in row]
            keep = sum(dash.charts[k].width or 0 for k in row) <= 12 and row_widths(
                dash, row) == shown
            for key, width in zip(row, shown, strict=True):
                chart = dash.charts[key]
                change: dict[str, int | None] = {}
                if not keep and width != chart.width:
                    change["width"] = width
                default = BIG_NUMBER_HEIGHT if chart.type == "big_number" else CHART_HEIGHT
                height = layout.sizes[key][1]
                if height and height != (chart.height or default):
                    change["height"] = None if height == default else height
                if change:
                    out[key] = change
    return out
