"""`runner superset export`: write the managed charts and layout as Superset has them into YAML.

The reverse of a sync, so work done in the UI becomes code: for each dashboard file, its charts
(found by uuid) are read back (`readback.read_chart`), their layout from `position_json`, and
every field that differs is edited in place in the file (`yaml_edit`: comments and order stay).
Charts made by hand in the UI and what the YAML cannot express are listed as notes, not written.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import ConfigError
from runner.superset.client import SupersetClient
from runner.superset.definitions import DashboardDef, display_path, load_definitions, locate
from runner.superset.edits import chart_uuids, dashboard_uuid, dataset_names, fetch_charts
from runner.superset.readback import (
    LAYOUT_FIELDS,
    ReadLayout,
    read_chart,
    read_layout,
    size_changes,
    spec_differences,
)
from runner.superset.yaml_edit import set_field, set_layout
from runner.yaml_files import parse_yaml

if TYPE_CHECKING:
    from runner.config import SupersetTarget


# database.yml is rendered to load the folder; its values do not matter to a dashboard file
_ANY_VARIABLES = {"database_name": "x", "keyspace": "x", "thrift_host": "x", "thrift_port": 1}


@dataclass(frozen=True)
class Change:
    """One edit written into a dashboard file: `where` is `charts.<key>.<field>` or `layout`."""

    path: Path
    line: int | None
    where: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote, and what it could not."""

    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def export_dashboards(
    superset_target: SupersetTarget,
    dashboards_dir: Path,
    *,
    cassandra_keyspace: str,
    project_dir: Path | None = None,
    login: tuple[str, str] | None = None,
) -> ExportResult:
    """Write the current state of each dashboard's managed charts into its YAML file.

    Args:
        superset_target: the Superset to read.
        dashboards_dir: the folder with the dashboard files (written in place).
        cassandra_keyspace: the keyspace the datasets read (part of every object's identity).
        project_dir: files are named relative to it.
        login: the Superset login; default the target's.

    Returns:
        The changes written and notes on what was left as it is.

    Raises:
        ConfigError: the edited file would not be valid (nothing is written then).
    """
    variables = {"database_name": superset_target.database_name, "keyspace": cassandra_keyspace,
                 "thrift_host": superset_target.thrift_host,
                 "thrift_port": superset_target.thrift_port}
    defs = load_definitions(dashboards_dir, variables, project_dir=project_dir)
    client = SupersetClient.for_target(superset_target, login)
    datasets = dataset_names(client, list(defs.datasets), cassandra_keyspace)
    result = ExportResult()
    for path, dash in defs.dashboards.items():
        shown = display_path(path, project_dir)
        dash_uuid = dashboard_uuid(superset_target.database_name, cassandra_keyspace, dash.slug)
        # a dashboard made before uuids were set is matched by slug, as a sync does
        found = client.find("dashboard", uuid=str(dash_uuid)) or client.find(
            "dashboard", slug=dash.slug
        )
        if not found:
            result.notes.append(f"{shown}: dashboard '{dash.slug}' is not in Superset (sync it)")
            continue
        # its charts' uuids derive from the uuid it has (made by a sync of this keyspace)
        uuids = chart_uuids(dash, uuid.UUID(found[0].get("uuid") or str(dash_uuid)))
        edits: list[tuple[str, str, Any, Any]] = []  # key, field, before, after
        rows = fetch_charts(client, uuids)
        for key, row in rows.items():
            read = read_chart(row, dash.charts[key], datasets)
            result.notes.extend(f"{shown}: {key}.{n} (kept as in the YAML)"
                                for n in read.unexpressible)
            edits += [(key, name, ours, theirs)
                      for name, theirs, ours in spec_differences(dash.charts[key], read.spec)
                      if name not in LAYOUT_FIELDS]
        board = client.request("GET", f"/api/v1/dashboard/{found[0]['id']}")["result"]
        layout = read_layout(json.loads(board.get("position_json") or "{}"), uuids, dash)
        if not layout.sizes:
            result.notes.append(f"{shown}: dashboard '{dash.slug}' shows none of its charts "
                                "(synced from another keyspace?); nothing written")
            continue
        sections = _keep_missing(dash, layout, result.notes, shown)
        for key, sizes in size_changes(dash, layout).items():
            chart = dash.charts[key]
            edits += [(key, name, getattr(chart, name), value) for name, value in sizes.items()]
        unmanaged = _unmanaged(client, found[0]["id"], {int(r["id"]) for r in rows.values()})
        if unmanaged:
            result.notes.append(f"{shown}: charts made in the UI are not exported: "
                                + ", ".join(unmanaged))
        result.changes.extend(_write(path, shown, dash, edits, sections))
    return result


def _keep_missing(
    dash: DashboardDef, layout: ReadLayout, notes: list[str], shown: Path
) -> list[tuple[str, list[list[str]]]]:
    """The layout's sections, plus managed charts taken off the dashboard in their YAML section."""
    sections = [(title, [list(r) for r in rows]) for title, rows in layout.sections]
    for key in layout.missing:
        notes.append(f"{shown}: chart '{key}' is not on the dashboard; the YAML keeps it")
        home = next(s.section for s in dash.layout for r in s.rows if key in r)
        target = next((rows for title, rows in sections if title == home), None)
        if target is None:
            sections.append((home, [[key]]))
        else:
            target.append([key])
    return sections


def _unmanaged(client: SupersetClient, dash_id: int, managed: set[int]) -> list[str]:
    """Titles of the dashboard's charts the runner does not manage (made in the UI)."""
    charts = client.request("GET", f"/api/v1/dashboard/{dash_id}/charts")["result"]
    return sorted(str(c["slice_name"]) for c in charts if int(c["id"]) not in managed)


def _write(
    path: Path,
    shown: Path,
    dash: DashboardDef,
    edits: list[tuple[str, str, Any, Any]],
    sections: list[tuple[str, list[list[str]]]],
) -> list[Change]:
    """Apply the edits to the file's text, check the result and write it; the changes made."""
    original = text = path.read_text()
    changes: list[tuple[str, tuple[str, ...], Any, Any]] = []
    for key, name, before, after in edits:
        info = type(dash.charts[key]).model_fields[name]
        default = info.get_default(call_default_factory=True)
        text = set_field(text, ("charts", key), name, after, shown, remove=after == default)
        changes.append((f"charts.{key}.{name}", ("charts", key, name), before, after))
    wanted = [(s.section, s.rows) for s in dash.layout]
    if sections != wanted:
        text = set_layout(text, sections, shown)
        changes.append(("layout", ("layout",), wanted, sections))
    if text == original:
        return []
    path.write_text(text)
    try:  # the whole folder must still load: restore the file if it does not
        load_definitions(path.parent, _ANY_VARIABLES, project_dir=None)
    except ConfigError:
        path.write_text(original)
        raise
    data = parse_yaml(text, shown)
    return [Change(shown, locate(data, loc)[1], where, before, after)
            for where, loc, before, after in changes]
