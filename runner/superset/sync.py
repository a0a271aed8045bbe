"""Dashboards as code: register `dashboards/*.yml` in Superset through its REST API.

`sync_dashboards` upserts the database, one virtual dataset per mart (a Spark query on
`cass.<keyspace>.<mart>`), the charts and the dashboard. Every object gets a uuid5 of its logical
name (database name, keyspace, dashboard slug, chart key), so a second sync updates the same
objects in place. Charts carry `runner_owner` (the dashboard's uuid) in their params: a chart
with that mark that left the definition is deleted; charts made by hand are never touched.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import requests
import yaml

from runner.errors import ConfigError, Location, ServiceError, SupersetError, scrub_secrets

if TYPE_CHECKING:
    from runner.config import SupersetTarget

try:
    import prison  # type: ignore[import-not-found]
except ImportError:  # FAB also accepts JSON in `q`
    prison = None

NAMESPACE = uuid.UUID("5f0c3f7e-8d0b-4a55-9a37-0d3b6c1f9a21")
DEFAULT_LOGIN = ("admin", "admin")
VIZ = {"big_number": "big_number_total", "bar": "echarts_timeseries_bar",
       "line": "echarts_timeseries_line", "table": "table"}  # fmt: skip


@dataclass(frozen=True)
class SyncResult:
    """What one `sync_dashboards` call left in Superset.

    Args:
        dashboard_url: where to open the dashboard.
        database_id, dashboard_id: Superset ids.
        dataset_ids, chart_ids: Superset ids by dataset name / chart key.
        created, updated, deleted: objects of any kind created, updated and deleted.
    """

    dashboard_url: str
    database_id: int
    dataset_ids: dict[str, int]
    chart_ids: dict[str, int]
    dashboard_id: int
    created: int
    updated: int
    deleted: int


class SupersetClient:
    """A logged-in REST session: JWT bearer, CSRF token and the session cookie it is tied to."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 120) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._secrets = [password]
        self.session = requests.Session()
        tokens = self.request(
            "POST", "/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": True},
        )  # fmt: skip
        self.session.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        csrf = self.request("GET", "/api/v1/security/csrf_token/")["result"]
        self.session.headers.update({"X-CSRFToken": csrf, "Referer": self.url})

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request; HTTP errors become `SupersetError`, no connection `ServiceError`."""
        try:
            resp = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            raise ServiceError(
                f"cannot reach Superset at {self.url}",
                hint="start it with `runner up`, or fix superset.url in profiles.yml",
            ) from exc
        except requests.Timeout as exc:
            raise ServiceError(f"Superset at {self.url} did not answer {method} {path}") from exc
        if resp.status_code >= 400:
            message = scrub_secrets(_error_message(resp), self._secrets)
            hint = (
                "check superset.username/password (RUNNER_SUPERSET_*)"
                if resp.status_code == 401
                else None
            )
            raise SupersetError(f"{method} {path}: HTTP {resp.status_code}: {message}", hint=hint)
        return resp.json() if resp.content else {}

    def find(self, resource: str, **filters: Any) -> list[dict[str, Any]]:
        """List `resource` objects matching every `column=value` filter (operator `eq`)."""
        query = {
            "filters": [{"col": k, "opr": "eq", "value": v} for k, v in filters.items()],
            "page_size": 100,
        }
        q = prison.dumps(query) if prison else json.dumps(query)
        return list(self.request("GET", f"/api/v1/{resource}/", params={"q": q})["result"])

    def upsert(
        self,
        resource: str,
        uid: uuid.UUID,
        body: dict[str, Any],
        *,
        put_body: dict[str, Any] | None = None,
        **alt: Any,
    ) -> tuple[int, bool]:
        """PUT the object with uuid `uid` (or matching `alt` filters), else POST it with `uid`.

        Returns:
            The object's id and whether it was created.
        """
        found = self.find(resource, uuid=str(uid)) or (self.find(resource, **alt) if alt else [])
        if found:
            obj_id = int(found[0]["id"])
            self.request("PUT", f"/api/v1/{resource}/{obj_id}", json=put_body or body)
            return obj_id, False
        created = self.request("POST", f"/api/v1/{resource}/", json={**body, "uuid": str(uid)})
        return int(created["id"]), True

    def chart_data(self, chart_id: int) -> list[dict[str, Any]]:
        """The rows chart `chart_id` shows now: Superset runs its saved query (no cache)."""
        data = self.request("GET", f"/api/v1/chart/{chart_id}/data/")
        return [row for result in data["result"] for row in result["data"]]

    def dashboard_charts(self, slug: str) -> dict[str, int]:
        """Chart id by chart title for the dashboard `slug` ({} when there is no such one)."""
        found = self.find("dashboard", slug=slug)
        if not found:
            return {}
        charts = self.request("GET", f"/api/v1/dashboard/{found[0]['id']}/charts")["result"]
        return {str(c["slice_name"]): int(c["id"]) for c in charts}


def _error_message(resp: requests.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.text.strip()[:300] or resp.reason
    msg = json.dumps(data)
    if isinstance(data, dict):
        if "message" in data:
            msg = (
                data["message"] if isinstance(data["message"], str) else json.dumps(data["message"])
            )
        elif data.get("errors"):
            msg = "; ".join(str(e.get("message", e)) for e in data["errors"])
    # Spark errors come wrapped in the whole Java stack trace; keep Spark's own message.
    spark = re.search(r"errorMessage='(.*?)(?:\\n|', operationHandle)", msg, re.DOTALL)
    if spark:
        msg = spark.group(1)
    return msg if len(msg) <= 800 else msg[:800] + " ..."


# ---------------------------------------------------------------------------------------------
# Definitions


def load_definitions(dashboards_dir: Path, variables: dict[str, Any]) -> dict[str, Any]:
    """Read `database.yml`, `datasets.yml` and every other `*.yml` (a dashboard) in a folder.

    `{{ name }}` in `database.yml` is rendered with `variables`.
    """

    def read(path: Path) -> Any:
        text = path.read_text()
        if path.name == "database.yml":
            try:
                text = (
                    jinja2.Environment(undefined=jinja2.StrictUndefined)
                    .from_string(text)
                    .render(**variables)
                )
            except jinja2.TemplateError as exc:
                raise ConfigError(f"cannot render: {exc}", location=Location(path)) from exc
        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ConfigError(
                f"invalid YAML: {getattr(exc, 'problem', exc)}",
                location=Location(path, mark.line + 1 if mark else None),
                source=text,
            ) from exc

    for required in ("database.yml", "datasets.yml"):
        if not (dashboards_dir / required).exists():
            raise ConfigError(
                f"{dashboards_dir / required} not found",
                hint="restore it from the repository (see dashboards/ and docs/CONTRACTS.md)",
            )
    dashboards = {
        p: read(p) for p in sorted(dashboards_dir.glob("*.yml"))
        if p.name not in ("database.yml", "datasets.yml")
    }  # fmt: skip
    defs = {
        "database": read(dashboards_dir / "database.yml"),
        "datasets": {d["name"]: d for d in read(dashboards_dir / "datasets.yml")["datasets"]},
        "dashboards": dashboards,
    }
    for path, dash in dashboards.items():
        for key, chart in dash.get("charts", {}).items():
            if chart.get("dataset") not in defs["datasets"]:
                raise ConfigError(
                    f"chart '{key}' uses unknown dataset '{chart.get('dataset')}'",
                    location=Location(path),
                    hint=f"use one of: {', '.join(defs['datasets'])} (datasets.yml)",
                )
            if chart.get("type") not in VIZ:
                raise ConfigError(
                    f"chart '{key}' has unknown type '{chart.get('type')}'",
                    location=Location(path), hint=f"use one of: {', '.join(VIZ)}",
                )  # fmt: skip
        placed = [k for sec in dash.get("layout", []) for row in sec["rows"] for k in row]
        missing = set(placed) - set(dash.get("charts", {}))
        if missing:
            raise ConfigError(
                f"layout places undefined charts: {', '.join(sorted(missing))}",
                location=Location(path), hint="define them under `charts:` or remove them",
            )  # fmt: skip
    return defs


def _columns(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    return [c if isinstance(c, dict) else {"name": c} for c in dataset["columns"]]


def dataset_sql(dataset: dict[str, Any], keyspace: str) -> str:
    """The Spark SQL of a virtual dataset: its columns read from `cass.<keyspace>.<mart>`.

    Example:
        >>> dataset_sql({"mart": "m", "columns": ["a", {"name": "b", "expression": "f(b)"}]}, "ks")
        'SELECT `a`, f(b) AS `b`\\nFROM cass.ks.m'
    """
    cols = ", ".join(
        f"{c['expression']} AS `{c['name']}`" if c.get("expression") else f"`{c['name']}`"
        for c in _columns(dataset)
    )
    return f"SELECT {cols}\nFROM cass.{keyspace}.{dataset['mart']}"


# ---------------------------------------------------------------------------------------------
# Charts: one function per type returns (params, query) for the chart's form data and the stored
# query_context that `GET /api/v1/chart/{id}/data/` runs.


def _order(spec: dict[str, Any]) -> list[tuple[str, bool]]:
    out = []
    for item in spec.get("order_by", []):
        col, _, direction = item.partition(" ")
        out.append((col, direction.strip().lower() != "desc"))
    return out


def _big_number(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    params = {"metric": spec["metric"], "y_axis_format": spec.get("format", "SMART_NUMBER"),
              "header_font_size": 0.4, "subheader_font_size": 0.15,
              "subheader": spec.get("subheader", "")}  # fmt: skip
    if spec.get("time_format"):  # the metric is a timestamp (e.g. MAX(finished_at))
        params.update(time_format=spec["time_format"], force_timestamp_formatting=True)
    return params, {"metrics": [spec["metric"]], "columns": [], "row_limit": 1}


def _table(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    order = _order(spec)
    limit = spec.get("row_limit", 1000)
    params: dict[str, Any] = {
        "row_limit": limit, "page_length": spec.get("page_length", 0),
        "include_search": spec.get("search", False), "table_timestamp_format": "smart_date",
        "show_cell_bars": False, "allow_render_html": False,
        "order_desc": bool(order and not order[0][1]),
    }  # fmt: skip
    if spec.get("formats"):
        params["column_config"] = {c: {"d3NumberFormat": f} for c, f in spec["formats"].items()}
    if "columns" in spec:
        params.update(query_mode="raw", all_columns=spec["columns"],
                      order_by_cols=[json.dumps([c, asc]) for c, asc in order])  # fmt: skip
        # metrics None (not []) is what makes Superset run a raw, ungrouped query
        query = {"columns": spec["columns"], "metrics": None, "orderby": [list(o) for o in order]}
    else:
        params.update(query_mode="aggregate", groupby=spec["groupby"], metrics=spec["metrics"])
        query = {
            "columns": spec["groupby"],
            "metrics": spec["metrics"],
            "orderby": [list(o) for o in order] or [[spec["metrics"][0], False]],
        }
    return params, {**query, "row_limit": limit}


def _series(spec: dict[str, Any], temporal: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    groupby = spec.get("groupby", [])
    params: dict[str, Any] = {
        "x_axis": spec["x"], "metrics": spec["metrics"], "groupby": groupby,
        "row_limit": spec.get("row_limit", 10000),
        "y_axis_format": spec.get("format", "SMART_NUMBER"),
        "show_legend": True, "legendType": "scroll", "legendOrientation": "top",
        "rich_tooltip": True, "x_axis_sort_asc": True, "truncate_metric": True,
        "order_desc": True, "comparison_type": "values",
    }  # fmt: skip
    axis: dict[str, Any] = {"columnType": "BASE_AXIS", "sqlExpression": spec["x"],
                            "label": spec["x"], "expressionType": "SQL"}  # fmt: skip
    filters = []
    if temporal:
        params.update(time_grain_sqla=spec.get("time_grain"), markerEnabled=True,
                      adhoc_filters=[{"clause": "WHERE", "subject": spec["x"],
                                      "operator": "TEMPORAL_RANGE", "comparator": "No filter",
                                      "expressionType": "SIMPLE"}])  # fmt: skip
        if params["time_grain_sqla"]:
            axis["timeGrain"] = params["time_grain_sqla"]
        filters = [{"col": spec["x"], "op": "TEMPORAL_RANGE", "val": "No filter"}]
    else:
        params.update(x_axis_sort=spec["x"], orientation="vertical",
                      stack="Stack" if spec.get("stacked") else None)  # fmt: skip
    query = {"columns": [axis, *groupby], "metrics": spec["metrics"], "series_columns": groupby,
             "filters": filters, "orderby": [[spec["metrics"][0], False]],
             "row_limit": params["row_limit"]}  # fmt: skip
    return params, query


CHART_BUILDERS: dict[str, Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]] = {
    "big_number": _big_number,
    "table": _table,
    "bar": lambda spec: _series(spec, temporal=False),
    "line": lambda spec: _series(spec, temporal=True),
}


def _chart_body(
    key: str, spec: dict[str, Any], dataset_id: int, owner: uuid.UUID
) -> dict[str, Any]:
    params, query = CHART_BUILDERS[spec["type"]](spec)
    params.update(viz_type=VIZ[spec["type"]], datasource=f"{dataset_id}__table",
                  runner_owner=str(owner), runner_key=key)  # fmt: skip
    query.setdefault("filters", [])
    query["extras"] = {"having": "", "where": ""}
    context = {"datasource": {"id": dataset_id, "type": "table"}, "force": False,
               "queries": [query], "form_data": params, "result_format": "json",
               "result_type": "full"}  # fmt: skip
    return {
        "slice_name": spec["title"], "viz_type": VIZ[spec["type"]], "datasource_id": dataset_id,
        "datasource_type": "table", "params": json.dumps(params),
        "query_context": json.dumps(context), "description": spec.get("description"),
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Dashboard layout and filters


def _position(
    dash: dict[str, Any], chart_ids: dict[str, int], uuids: dict[str, str]
) -> dict[str, Any]:
    pos: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": dash["title"]}},
    }
    grid = pos["GRID_ID"]["children"]
    for s, section in enumerate(dash.get("layout", [])):
        head = f"HEADER-{s}"
        pos[head] = {"type": "HEADER", "id": head, "children": [],
                     "parents": ["ROOT_ID", "GRID_ID"],
                     "meta": {"text": section["section"], "headerSize": "MEDIUM_HEADER",
                              "background": "BACKGROUND_TRANSPARENT"}}  # fmt: skip
        grid.append(head)
        for r, row in enumerate(section["rows"]):
            row_id = f"ROW-{s}-{r}"
            grid.append(row_id)
            pos[row_id] = {"type": "ROW", "id": row_id, "children": [],
                           "parents": ["ROOT_ID", "GRID_ID"],
                           "meta": {"background": "BACKGROUND_TRANSPARENT"}}  # fmt: skip
            fixed = {k: dash["charts"][k]["width"] for k in row if "width" in dash["charts"][k]}
            free = [k for k in row if k not in fixed]
            share, extra = divmod(12 - sum(fixed.values()), max(len(free), 1))
            for i, key in enumerate(row):
                spec = dash["charts"][key]
                width = fixed.get(key) or share + (1 if i < extra else 0)
                node = f"CHART-{key}"
                pos[row_id]["children"].append(node)
                height = spec.get("height", 30 if spec["type"] == "big_number" else 60)
                pos[node] = {"type": "CHART", "id": node, "children": [],
                             "parents": ["ROOT_ID", "GRID_ID", row_id],
                             "meta": {"chartId": chart_ids[key], "uuid": uuids[key],
                                      "width": width, "height": height,
                                      "sliceName": spec["title"]}}  # fmt: skip
    return pos


def _native_filters(
    dash: dict[str, Any],
    defs: dict[str, Any],
    dataset_ids: dict[str, int],
    chart_ids: dict[str, int],
) -> list[dict[str, Any]]:
    out = []
    for f in dash.get("filters", []):
        has_col = {
            k
            for k, spec in dash["charts"].items()
            if f["column"] in {c["name"] for c in _columns(defs["datasets"][spec["dataset"]])}
        }
        out.append({
            "id": f"NATIVE_FILTER-{f['key']}", "name": f["title"], "filterType": "filter_select",
            "type": "NATIVE_FILTER", "description": f.get("description", ""),
            "targets": [{"datasetId": dataset_ids[f["dataset"]], "column": {"name": f["column"]}}],
            "controlValues": {"enableEmptyFilter": False, "defaultToFirstItem": False,
                              "multiSelect": True, "searchAllOptions": False,
                              "inverseSelection": False},
            "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
            "cascadeParentIds": [],
            "scope": {"rootPath": ["ROOT_ID"],
                      "excluded": sorted(chart_ids[k] for k in chart_ids if k not in has_col)},
            "chartsInScope": sorted(chart_ids[k] for k in chart_ids if k in has_col),
            "tabsInScope": [],
        })  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------
# Sync


def sync_dashboards(
    superset_target: SupersetTarget,
    dashboards_dir: Path,
    *,
    cassandra_keyspace: str,
    model_docs: dict[str, dict[str, str]] | None = None,
) -> SyncResult:
    """Make Superset match `dashboards_dir`: database, datasets, charts and dashboard.

    Args:
        superset_target: the Superset to write to and the Thrift server its database reads.
        dashboards_dir: folder with database.yml, datasets.yml and one YAML per dashboard.
        cassandra_keyspace: the keyspace of the marts the datasets read.
        model_docs: column descriptions by mart name (from the models' YAML), for the datasets.

    Returns:
        The ids of every object and how many were created, updated and deleted.
    """
    user, password = superset_target.credentials()
    client = SupersetClient(
        superset_target.url, user or DEFAULT_LOGIN[0], password or DEFAULT_LOGIN[1]
    )
    ns = uuid.uuid5(NAMESPACE, f"{superset_target.database_name}/{cassandra_keyspace}")
    variables = {"database_name": superset_target.database_name, "keyspace": cassandra_keyspace,
                 "thrift_host": superset_target.thrift_host,
                 "thrift_port": superset_target.thrift_port}  # fmt: skip
    defs = load_definitions(dashboards_dir, variables)
    counts = {"created": 0, "updated": 0, "deleted": 0}

    def tally(created: bool) -> None:
        counts["created" if created else "updated"] += 1

    db = defs["database"]
    db_body = {k: v for k, v in db.items() if k not in ("name",)}
    db_id, created = client.upsert(
        "database",
        uuid.uuid5(ns, "database"),
        {"database_name": db["name"], **db_body},
        database_name=db["name"],
    )
    tally(created)

    dataset_ids = {
        name: _sync_dataset(client, ns, db_id, ds, cassandra_keyspace, (model_docs or {}), tally)
        for name, ds in defs["datasets"].items()
    }

    dash_url = ""
    chart_ids: dict[str, int] = {}
    dash_id = 0
    for dash in defs["dashboards"].values():
        dash_uuid = uuid.uuid5(ns, f"dashboard/{dash['slug']}")
        dash_id, created = client.upsert(
            "dashboard", dash_uuid,
            {"dashboard_title": dash["title"], "slug": dash["slug"], "published": True},
            slug=dash["slug"],
        )  # fmt: skip
        tally(created)
        uuids = {k: str(uuid.uuid5(dash_uuid, f"chart/{k}")) for k in dash["charts"]}
        for key, spec in dash["charts"].items():
            body = _chart_body(key, spec, dataset_ids[spec["dataset"]], dash_uuid)
            chart_ids[key], created = client.upsert("chart", uuid.UUID(uuids[key]), body)
            tally(created)
        counts["deleted"] += _delete_stale_charts(
            client, dash_id, dash_uuid, set(chart_ids.values())
        )
        pos = _position(dash, chart_ids, uuids)
        meta = {"color_scheme": "supersetColors", "refresh_frequency": 0,
                "native_filter_configuration": _native_filters(dash, defs, dataset_ids, chart_ids),
                "cross_filters_enabled": True, "timed_refresh_immune_slices": [],
                "expanded_slices": {}, "label_colors": {}, "shared_label_colors": [],
                "color_scheme_domain": [], "positions": pos}  # fmt: skip
        client.request("PUT", f"/api/v1/dashboard/{dash_id}", json={
            "dashboard_title": dash["title"], "slug": dash["slug"], "published": True,
            "position_json": json.dumps(pos), "json_metadata": json.dumps(meta),
        })  # fmt: skip
        dash_url = f"{client.url}/superset/dashboard/{dash['slug']}/"
    return SyncResult(dash_url, db_id, dataset_ids, chart_ids, dash_id, **counts)


def _sync_dataset(
    client: SupersetClient,
    ns: uuid.UUID,
    db_id: int,
    ds: dict[str, Any],
    keyspace: str,
    docs: dict[str, dict[str, str]],
    tally: Callable[[bool], None],
) -> int:
    table_name = f"{keyspace}.{ds['name']}"
    sql = dataset_sql(ds, keyspace)
    ds_id, created = client.upsert(
        "dataset", uuid.uuid5(ns, f"dataset/{ds['name']}"),
        {"database": db_id, "schema": "default", "table_name": table_name, "sql": sql},
        put_body={"database_id": db_id, "schema": "default", "table_name": table_name,
                  "sql": sql},
        table_name=table_name,
    )  # fmt: skip
    tally(created)
    if not created:  # the SQL or the mart may have changed: read the columns again
        client.request("PUT", f"/api/v1/dataset/{ds_id}/refresh")
    current = client.request("GET", f"/api/v1/dataset/{ds_id}")["result"]
    wanted = {c["name"]: c for c in _columns(ds)}
    mart_docs = docs.get(ds["mart"], {})
    columns = []
    for col in current["columns"]:
        spec = wanted.get(col["column_name"], {})
        desc = spec.get("description") or mart_docs.get(col["column_name"])
        columns.append({
            "id": col["id"], "column_name": col["column_name"], "type": col.get("type"),
            "description": desc, "is_dttm": bool(spec.get("is_dttm", col.get("is_dttm"))),
            "groupby": True, "filterable": True, "verbose_name": spec.get("verbose_name"),
        })  # fmt: skip
    existing = {m["metric_name"]: m["id"] for m in current.get("metrics", [])}
    metrics = []
    for m in ds.get("metrics", []):
        metric = {"metric_name": m["name"], "expression": m["expression"],
                  "d3format": m.get("format"), "description": m.get("description"),
                  "verbose_name": m.get("verbose_name")}  # fmt: skip
        if m["name"] in existing:
            metric["id"] = existing[m["name"]]
        metrics.append(metric)
    dttm = next((c["name"] for c in _columns(ds) if c.get("is_dttm")), None)
    client.request("PUT", f"/api/v1/dataset/{ds_id}", json={
        "description": ds.get("description"), "columns": columns, "metrics": metrics,
        "main_dttm_col": dttm, "sql": sql, "table_name": table_name,
    })  # fmt: skip
    return ds_id


def _delete_stale_charts(
    client: SupersetClient, dash_id: int, owner: uuid.UUID, keep: set[int]
) -> int:
    deleted = 0
    for chart in client.request("GET", f"/api/v1/dashboard/{dash_id}/charts")["result"]:
        form = chart.get("form_data") or {}
        if form.get("runner_owner") == str(owner) and chart["id"] not in keep:
            client.request("DELETE", f"/api/v1/chart/{chart['id']}")
            deleted += 1
    return deleted
