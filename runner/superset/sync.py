"""Dashboards as code: make Superset match `dashboards/*.yml`, idempotently.

`sync_dashboards` upserts the database, one virtual dataset per mart (a Spark query on
`cass.<keyspace>.<mart>`), the charts and the dashboard. Every object gets a uuid5 of its logical
name (database name, keyspace, dashboard slug, chart key), so a second sync updates the same
objects in place. Charts carry `runner_owner` (the dashboard's uuid) in their params: a chart
with that mark that left the definition is deleted; charts made by hand are never touched.
A managed chart edited in the UI since the last sync is not overwritten unless `force`
(`runner.superset.edits`); nothing is sent before that check.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from runner.superset.charts import chart_body, dataset_sql, native_filters, position
from runner.superset.client import SupersetClient
from runner.superset.definitions import (
    DashboardDef,
    DatasetDef,
    Definitions,
    display_path,
    load_definitions,
)
from runner.superset.edits import (
    NAMESPACE,
    ChartEdit,
    chart_uuids,
    dataset_names,
    edits_error,
    find_edits,
)

if TYPE_CHECKING:
    from runner.config import SupersetTarget


@dataclass(frozen=True)
class SyncResult:
    """What one `sync_dashboards` call left in Superset.

    Args:
        dashboard_url: where to open the (last) dashboard.
        database_id, dashboard_id: Superset ids.
        dataset_ids, chart_ids: Superset ids by dataset name / chart key.
        created, updated, deleted: objects of any kind created, updated and deleted.
        overwritten: UI edits a forced sync replaced with the YAML.
    """

    dashboard_url: str
    database_id: int
    dataset_ids: dict[str, int]
    chart_ids: dict[str, int]
    dashboard_id: int
    created: int
    updated: int
    deleted: int
    overwritten: tuple[ChartEdit, ...] = ()
    dashboard_ids: tuple[int, ...] = ()
    dataset_marts: dict[str, str] = field(default_factory=dict)  # dataset name -> mart


@dataclass
class _Tally:
    created: int = 0
    updated: int = 0
    deleted: int = 0

    def add(self, created: bool) -> None:
        if created:
            self.created += 1
        else:
            self.updated += 1


def sync_dashboards(
    superset_target: SupersetTarget,
    dashboards_dir: Path,
    *,
    cassandra_keyspace: str,
    model_docs: dict[str, dict[str, str]] | None = None,
    project_dir: Path | None = None,
    login: tuple[str, str] | None = None,
    database_login: tuple[str, str] | None = None,
    force: bool = False,
) -> SyncResult:
    """Make Superset match `dashboards_dir`: database, datasets, charts and dashboards.

    The definitions are read and checked before anything is sent, so a mistake in them changes
    nothing in Superset.

    Args:
        superset_target: the Superset to write to and the Thrift server its database reads.
        dashboards_dir: folder with database.yml, datasets.yml and one YAML per dashboard.
        cassandra_keyspace: the keyspace of the marts the datasets read.
        model_docs: column descriptions by mart name (from the models' YAML), for the datasets.
        project_dir: errors in the definitions show paths relative to it.
        login: the Superset login; default the target's (`login_of`).
        database_login: the Thrift server's login, put into the database's URI (Superset
            keeps it encrypted with its secret key and never shows it back).
        force: overwrite managed charts edited in Superset's UI since the last sync.

    Returns:
        The ids of every object and how many were created, updated and deleted.

    Raises:
        SupersetError: a managed chart was edited in the UI (and not `force`), naming each
            field with its Superset and YAML values.
    """
    variables = {"database_name": superset_target.database_name, "keyspace": cassandra_keyspace,
                 "thrift_host": superset_target.thrift_host,
                 "thrift_port": superset_target.thrift_port}
    defs = load_definitions(dashboards_dir, variables, project_dir=project_dir)
    client = SupersetClient.for_target(superset_target, login)
    ns = uuid.uuid5(NAMESPACE, f"{superset_target.database_name}/{cassandra_keyspace}")
    tally = _Tally()
    overwritten: list[ChartEdit] = []
    known = dataset_names(client, list(defs.datasets), cassandra_keyspace)
    for path, dash in defs.dashboards.items():
        shown = display_path(path, project_dir)
        edits = find_edits(client, dash, uuid.uuid5(ns, f"dashboard/{dash.slug}"), known, path,
                           shown)
        if edits and not force:
            raise edits_error(edits, shown)
        overwritten += edits

    db = defs.database
    db_body = {"database_name": db.name, **db.model_dump(exclude={"name"}, exclude_unset=True)}
    if database_login is not None:
        client.hide(database_login[1])
        db_body["sqlalchemy_uri"] = uri_with_login(db.sqlalchemy_uri, database_login)
    db_id, created = client.upsert(
        "database", uuid.uuid5(ns, "database"), db_body, database_name=db.name
    )
    tally.add(created)
    dataset_ids = {
        name: _sync_dataset(client, ns, db_id, ds, cassandra_keyspace, model_docs or {}, tally)
        for name, ds in defs.datasets.items()
    }
    chart_ids: dict[str, int] = {}
    dash_id, dash_url, dash_ids = 0, "", []
    for dash in defs.dashboards.values():
        dash_id, chart_ids = _sync_dashboard(client, ns, dash, defs, dataset_ids, tally)
        dash_ids.append(dash_id)
        dash_url = f"{client.url}/superset/dashboard/{dash.slug}/"
    return SyncResult(dash_url, db_id, dataset_ids, chart_ids, dash_id, tally.created,
                      tally.updated, tally.deleted, tuple(overwritten), tuple(dash_ids),
                      {name: ds.mart for name, ds in defs.datasets.items()})


def uri_with_login(uri: str, login: tuple[str, str]) -> str:
    """`uri` with `login` as its user and password, and PyHive's password login (`auth=CUSTOM`).

    Example:
        >>> uri_with_login("hive://runner@127.0.0.1:10000/default", ("runner", "p@ss/w:rd"))
        'hive://runner:p%40ss%2Fw%3Ard@127.0.0.1:10000/default?auth=CUSTOM'
    """
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(login[0], safe='')}:{quote(login[1], safe='')}@{host}"
    query = "&".join([q for q in parts.query.split("&") if q and not q.startswith("auth=")]
                     + ["auth=CUSTOM"])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _sync_dashboard(
    client: SupersetClient,
    ns: uuid.UUID,
    dash: DashboardDef,
    defs: Definitions,
    dataset_ids: dict[str, int],
    tally: _Tally,
) -> tuple[int, dict[str, int]]:
    """Upsert a dashboard and its charts, delete its charts that left the definition."""
    dash_uuid = uuid.uuid5(ns, f"dashboard/{dash.slug}")
    dash_id, created = client.upsert(
        "dashboard", dash_uuid,
        {"dashboard_title": dash.title, "slug": dash.slug, "published": True}, slug=dash.slug,
    )
    tally.add(created)
    uuids = chart_uuids(dash, dash_uuid)
    chart_ids: dict[str, int] = {}
    for key, chart in dash.charts.items():
        body = chart_body(key, chart, dataset_ids[chart.dataset], dash_uuid)
        chart_ids[key], created = client.upsert("chart", uuid.UUID(uuids[key]), body)
        tally.add(created)
    tally.deleted += _delete_stale_charts(client, dash_id, dash_uuid, set(chart_ids.values()))
    pos = position(dash, chart_ids, uuids)
    meta = {"color_scheme": "supersetColors", "refresh_frequency": 0,
            "native_filter_configuration": native_filters(dash, defs.datasets, dataset_ids,
                                                          chart_ids),
            "cross_filters_enabled": True, "timed_refresh_immune_slices": [],
            "expanded_slices": {}, "label_colors": {}, "shared_label_colors": [],
            "color_scheme_domain": [], "positions": pos}
    client.request("PUT", f"/api/v1/dashboard/{dash_id}", json={
        "dashboard_title": dash.title, "slug": dash.slug, "published": True,
        "position_json": json.dumps(pos), "json_metadata": json.dumps(meta),
    })
    return dash_id, chart_ids


def _sync_dataset(
    client: SupersetClient,
    ns: uuid.UUID,
    db_id: int,
    ds: DatasetDef,
    keyspace: str,
    docs: dict[str, dict[str, str]],
    tally: _Tally,
) -> int:
    """Upsert a virtual dataset, then its column settings and metrics."""
    table_name = f"{keyspace}.{ds.name}"
    sql = dataset_sql(ds, keyspace)
    ds_id, created = client.upsert(
        "dataset", uuid.uuid5(ns, f"dataset/{ds.name}"),
        {"database": db_id, "schema": "default", "table_name": table_name, "sql": sql},
        put_body={"database_id": db_id, "schema": "default", "table_name": table_name,
                  "sql": sql},
        table_name=table_name,
    )
    tally.add(created)
    if not created:  # the SQL or the mart may have changed: read the columns again
        client.request("PUT", f"/api/v1/dataset/{ds_id}/refresh")
    current = client.request("GET", f"/api/v1/dataset/{ds_id}")["result"]
    wanted = {c.name: c for c in ds.columns}
    mart_docs = docs.get(ds.mart, {})
    columns = []
    for col in current["columns"]:
        spec = wanted.get(col["column_name"])
        columns.append({
            "id": col["id"], "column_name": col["column_name"], "type": col.get("type"),
            "description": (spec and spec.description) or mart_docs.get(col["column_name"]),
            "is_dttm": bool(col.get("is_dttm") if spec is None or spec.is_dttm is None
                            else spec.is_dttm),
            "groupby": True, "filterable": True,
            "verbose_name": spec.verbose_name if spec else None,
        })
    existing = {m["metric_name"]: m["id"] for m in current.get("metrics", [])}
    metrics: list[dict[str, Any]] = []
    for m in ds.metrics:
        metric: dict[str, Any] = {"metric_name": m.name, "expression": m.expression,
                                  "d3format": m.format, "description": m.description,
                                  "verbose_name": m.verbose_name}
        if m.name in existing:
            metric["id"] = existing[m.name]
        metrics.append(metric)
    dttm = next((c.name for c in ds.columns if c.is_dttm), None)
    client.request("PUT", f"/api/v1/dataset/{ds_id}", json={
        "description": ds.description, "columns": columns, "metrics": metrics,
        "main_dttm_col": dttm, "sql": sql, "table_name": table_name,
    })
    return ds_id


def _delete_stale_charts(
    client: SupersetClient, dash_id: int, owner: uuid.UUID, keep: set[int]
) -> int:
    """Delete the dashboard's charts this runner made (`runner_owner`) that are not in `keep`."""
    deleted = 0
    for chart in client.request("GET", f"/api/v1/dashboard/{dash_id}/charts")["result"]:
        form = chart.get("form_data") or {}
        if form.get("runner_owner") == str(owner) and chart["id"] not in keep:
            client.request("DELETE", f"/api/v1/chart/{chart['id']}")
            deleted += 1
    return deleted
