"""What Superset stores for the definitions: dataset SQL, chart params and queries, the layout.

Pure functions from `runner.superset.definitions` models to the JSON Superset's REST API takes.
Each chart type has one builder returning (params, query): the chart's form data, and the query
of the stored `query_context` that `GET /api/v1/chart/{id}/data/` runs.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from runner.superset.definitions import (
    BigNumberChart,
    Chart,
    DashboardDef,
    DatasetDef,
    SeriesChart,
    TableChart,
)

VIZ = {"big_number": "big_number_total", "bar": "echarts_timeseries_bar",
       "line": "echarts_timeseries_line", "table": "table"}
BIG_NUMBER_HEIGHT = 30
CHART_HEIGHT = 60
Params = tuple[dict[str, Any], dict[str, Any]]
HASH_KEY = "runner_hash"  # in params: what the runner wrote, to tell UI edits apart


def dataset_sql(dataset: DatasetDef, keyspace: str) -> str:
    """The Spark SQL of a virtual dataset: its columns read from `cass.<keyspace>.<mart>`.

    Example:
        >>> ds = DatasetDef.model_validate(
        ...     {"name": "d", "mart": "m", "columns": ["a", {"name": "b", "expression": "f(b)"}]})
        >>> dataset_sql(ds, "ks")
        'SELECT `a`, f(b) AS `b`\\nFROM cass.ks.m'
    """
    cols = ", ".join(
        f"{c.expression} AS `{c.name}`" if c.expression else f"`{c.name}`" for c in dataset.columns
    )
    return f"SELECT {cols}\nFROM cass.{keyspace}.{dataset.mart}"


def _order(items: list[str]) -> list[tuple[str, bool]]:
    """(column, ascending) pairs of `order_by` items.

    Example:
        >>> _order(["a", "b desc"])
        [('a', True), ('b', False)]
    """
    return [(item.split()[0], item.split()[-1].lower() != "desc") for item in items]


def _big_number(chart: BigNumberChart) -> Params:
    params: dict[str, Any] = {
        "metric": chart.metric, "y_axis_format": chart.format, "header_font_size": 0.4,
        "subheader_font_size": 0.15, "subheader": chart.subheader,
    }
    if chart.time_format:  # the metric is a timestamp (e.g. MAX(finished_at))
        params.update(time_format=chart.time_format, force_timestamp_formatting=True)
    return params, {"metrics": [chart.metric], "columns": [], "row_limit": 1}


def _table(chart: TableChart) -> Params:
    order = _order(chart.order_by)
    params: dict[str, Any] = {
        "row_limit": chart.row_limit, "page_length": chart.page_length,
        "include_search": chart.search, "table_timestamp_format": "smart_date",
        "show_cell_bars": False, "allow_render_html": False,
        "order_desc": bool(order and not order[0][1]),
    }
    if chart.formats:
        params["column_config"] = {c: {"d3NumberFormat": f} for c, f in chart.formats.items()}
    query: dict[str, Any]
    if chart.columns is not None:
        params.update(query_mode="raw", all_columns=chart.columns,
                      order_by_cols=[json.dumps([c, asc]) for c, asc in order])
        # metrics None (not []) is what makes Superset run a raw, ungrouped query
        query = {"columns": chart.columns, "metrics": None, "orderby": [list(o) for o in order]}
    else:
        params.update(query_mode="aggregate", groupby=chart.groupby, metrics=chart.metrics)
        query = {
            "columns": chart.groupby,
            "metrics": chart.metrics,
            "orderby": [list(o) for o in order] or [[chart.metrics[0], False]],
        }
    return params, {**query, "row_limit": chart.row_limit}


def _series(chart: SeriesChart) -> Params:
    params: dict[str, Any] = {
        "x_axis": chart.x, "metrics": chart.metrics, "groupby": chart.groupby,
        "row_limit": chart.row_limit, "y_axis_format": chart.format,
        "show_legend": True, "legendType": "scroll", "legendOrientation": "top",
        "rich_tooltip": True, "x_axis_sort_asc": True, "truncate_metric": True,
        "order_desc": True, "comparison_type": "values",
    }
    axis: dict[str, Any] = {"columnType": "BASE_AXIS", "sqlExpression": chart.x,
                            "label": chart.x, "expressionType": "SQL"}
    filters: list[dict[str, Any]] = []
    if chart.type == "line":
        params.update(time_grain_sqla=chart.time_grain, markerEnabled=True,
                      x_axis_time_format="%Y-%m-%d",  # "smart" mixes weekdays and months
                      adhoc_filters=[{"clause": "WHERE", "subject": chart.x,
                                      "operator": "TEMPORAL_RANGE", "comparator": "No filter",
                                      "expressionType": "SIMPLE"}])
        if chart.time_grain:
            axis["timeGrain"] = chart.time_grain
        filters = [{"col": chart.x, "op": "TEMPORAL_RANGE", "val": "No filter"}]
    else:
        params.update(x_axis_sort=chart.x,
                      orientation="horizontal" if chart.horizontal else "vertical",
                      stack="Stack" if chart.stacked else None)
    query = {"columns": [axis, *chart.groupby], "metrics": chart.metrics,
             "series_columns": chart.groupby, "filters": filters,
             "orderby": [[chart.metrics[0], False]], "row_limit": chart.row_limit}
    return params, query


def fingerprint(title: str, description: str | None, viz_type: str, params: dict[str, Any]) -> str:
    """A short hash of what a chart shows: title, description, viz and params (minus the hash).

    Example:
        >>> fingerprint("t", None, "table", {"a": 1, HASH_KEY: "x"}) == fingerprint(
        ...     "t", None, "table", {"a": 1})
        True
    """
    shown = {"title": title, "description": description or None, "viz_type": viz_type,
             "params": {k: v for k, v in params.items() if k != HASH_KEY}}
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:16]


CHART_BUILDERS: dict[str, Callable[[Any], Params]] = {
    "big_number": _big_number,
    "bar": _series,
    "line": _series,
    "table": _table,
}


def chart_body(key: str, chart: Chart, dataset_id: int, owner: uuid.UUID) -> dict[str, Any]:
    """The REST body of a chart: form data, stored query context and the owner mark.

    Args:
        key: the chart's key in the dashboard file (its identity).
        chart: its definition.
        dataset_id: the Superset id of its dataset.
        owner: the dashboard's uuid, saved as `runner_owner` so a sync can delete the charts
            it made that left the definition.
    """
    params, query = CHART_BUILDERS[chart.type](chart)
    if chart.where:  # an ad hoc SQL filter, as explore saves one
        params["adhoc_filters"] = [*params.get("adhoc_filters", []), {
            "expressionType": "SQL", "clause": "WHERE", "sqlExpression": chart.where,
            "filterOptionName": "runner_where", "isExtra": False, "isNew": False}]
    params.update(viz_type=VIZ[chart.type], datasource=f"{dataset_id}__table",
                  runner_owner=str(owner), runner_key=key)
    params[HASH_KEY] = fingerprint(chart.title, chart.description, VIZ[chart.type], params)
    query.setdefault("filters", [])
    query["extras"] = {"having": "", "where": f"({chart.where})" if chart.where else ""}
    context = {"datasource": {"id": dataset_id, "type": "table"}, "force": False,
               "queries": [query], "form_data": params, "result_format": "json",
               "result_type": "full"}
    return {
        "slice_name": chart.title, "viz_type": VIZ[chart.type], "datasource_id": dataset_id,
        "datasource_type": "table", "params": json.dumps(params),
        "query_context": json.dumps(context), "description": chart.description,
    }


def row_widths(dash: DashboardDef, row: list[str]) -> list[int]:
    """Grid widths of a layout row: fixed `width`s first, the rest shared, leftovers to the left.

    Example:
        >>> dash = DashboardDef.model_validate({"title": "t", "slug": "s", "charts": {
        ...     k: {"type": "big_number", "title": k, "dataset": "d", "metric": "m"}
        ...     for k in "abc"}, "layout": [{"section": "x", "rows": [["a", "b", "c"]]}]})
        >>> row_widths(dash, ["a", "b", "c"]), row_widths(dash, ["a", "b"])
        ([4, 4, 4], [6, 6])
    """
    fixed = {k: dash.charts[k].width for k in row if dash.charts[k].width}
    free = [k for k in row if k not in fixed]
    share, extra = divmod(12 - sum(w or 0 for w in fixed.values()), max(len(free), 1))
    widths = []
    for key in row:
        width = fixed.get(key)
        if width is None:
            width = share + (1 if free.index(key) < extra else 0)
        widths.append(width)
    return widths


def position(
    dash: DashboardDef, chart_ids: dict[str, int], uuids: dict[str, str]
) -> dict[str, Any]:
    """The dashboard's `position_json`: a header and rows of charts per layout section."""
    pos: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": dash.title}},
    }
    grid = pos["GRID_ID"]["children"]
    for s, section in enumerate(dash.layout):
        head = f"HEADER-{s}"
        pos[head] = {"type": "HEADER", "id": head, "children": [],
                     "parents": ["ROOT_ID", "GRID_ID"],
                     "meta": {"text": section.section, "headerSize": "MEDIUM_HEADER",
                              "background": "BACKGROUND_TRANSPARENT"}}
        grid.append(head)
        for r, row in enumerate(section.rows):
            row_id = f"ROW-{s}-{r}"
            grid.append(row_id)
            pos[row_id] = {"type": "ROW", "id": row_id, "children": [],
                           "parents": ["ROOT_ID", "GRID_ID"],
                           "meta": {"background": "BACKGROUND_TRANSPARENT"}}
            for key, width in zip(row, row_widths(dash, row), strict=True):
                chart = dash.charts[key]
                node = f"CHART-{key}"
                pos[row_id]["children"].append(node)
                default = BIG_NUMBER_HEIGHT if chart.type == "big_number" else CHART_HEIGHT
                pos[node] = {"type": "CHART", "id": node, "children": [],
                             "parents": ["ROOT_ID", "GRID_ID", row_id],
                             "meta": {"chartId": chart_ids[key], "uuid": uuids[key],
                                      "width": width, "height": chart.height or default,
                                      "sliceName": chart.title}}
    return pos


def native_filters(
    dash: DashboardDef,
    datasets: dict[str, DatasetDef],
    dataset_ids: dict[str, int],
    chart_ids: dict[str, int],
) -> list[dict[str, Any]]:
    """The native filter configuration: each filter scoped to the charts that have its column."""
    out = []
    for f in dash.filters:
        has_col = {
            k for k, chart in dash.charts.items()
            if f.column in {c.name for c in datasets[chart.dataset].columns}
        }
        out.append({
            "id": f"NATIVE_FILTER-{f.key}", "name": f.title, "filterType": "filter_select",
            "type": "NATIVE_FILTER", "description": f.description,
            "targets": [{"datasetId": dataset_ids[f.dataset], "column": {"name": f.column}}],
            "controlValues": {"enableEmptyFilter": False, "defaultToFirstItem": False,
                              "multiSelect": True, "searchAllOptions": False,
                              "inverseSelection": False},
            "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
            "cascadeParentIds": [],
            "scope": {"rootPath": ["ROOT_ID"],
                      "excluded": sorted(chart_ids[k] for k in chart_ids if k not in has_col)},
            "chartsInScope": sorted(chart_ids[k] for k in chart_ids if k in has_col),
            "tabsInScope": [],
        })
    return out
