"""UI edits of managed charts: find them before a sync overwrites them.

Every chart the runner writes carries a fingerprint of what it wrote (`charts.HASH_KEY`). A chart
whose stored form no longer matches its fingerprint was saved from Superset's UI (or its API);
when that edit changed a field the YAML spec has, a sync refuses to overwrite it unless forced
and names each field (`ChartEdit`). Edits the YAML cannot express (colours, ad hoc metrics) are
overwritten: `runner superset export` could not keep them either.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import Location, SupersetError
from runner.superset.client import SupersetClient
from runner.superset.definitions import DashboardDef, locate
from runner.superset.readback import read_chart, spec_differences, was_edited
from runner.yaml_files import parse_yaml

NAMESPACE = uuid.UUID("5f0c3f7e-8d0b-4a55-9a37-0d3b6c1f9a21")


def dashboard_uuid(database_name: str, keyspace: str, slug: str) -> uuid.UUID:
    """The uuid of a dashboard; its charts' uuids derive from it (`chart_uuids`)."""
    ns = uuid.uuid5(NAMESPACE, f"{database_name}/{keyspace}")
    return uuid.uuid5(ns, f"dashboard/{slug}")


def chart_uuids(dash: DashboardDef, dash_uuid: uuid.UUID) -> dict[str, str]:
    """The uuid of each chart by key: its identity in Superset."""
    return {k: str(uuid.uuid5(dash_uuid, f"chart/{k}")) for k in dash.charts}


class ChartsEditedError(SupersetError):
    """Managed charts were edited in the UI: the user chooses export or `--force` (exit 1)."""


@dataclass(frozen=True)
class ChartEdit:
    """One chart field that differs between Superset (edited in the UI) and the YAML."""

    key: str
    field: str
    superset: Any
    yaml: Any
    line: int | None = None  # of the field (else the chart) in the dashboard file


def fetch_charts(client: SupersetClient, uuids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The stored charts by key (those that exist), as rows of Superset's chart list API."""
    rows = {}
    for key, uid in uuids.items():
        found = client.find("chart", uuid=uid)
        if found:
            rows[key] = found[0]
    return rows


def dataset_names(client: SupersetClient, names: list[str], keyspace: str) -> dict[int, str]:
    """Dataset name by Superset id, for the datasets that exist."""
    out = {}
    for name in names:
        for found in client.find("dataset", table_name=f"{keyspace}.{name}"):
            out[int(found["id"])] = name
    return out


def find_edits(
    client: SupersetClient,
    dash: DashboardDef,
    dash_uuid: uuid.UUID,
    datasets: dict[int, str],
    path: Path,
    shown: Path,
) -> list[ChartEdit]:
    """Every YAML field of a managed chart that was edited in Superset and differs from the YAML.

    Args:
        client: a logged-in client.
        dash: the dashboard's definition; `path` its file, `shown` how errors name it.
        dash_uuid: its uuid (`dashboard_uuid`).
        datasets: dataset name by Superset id (`dataset_names`).
    """
    data = parse_yaml(path.read_text(), shown)
    edits = []
    for key, row in fetch_charts(client, chart_uuids(dash, dash_uuid)).items():
        if not was_edited(row):
            continue
        base = dash.charts[key]
        for name, theirs, ours in spec_differences(base, read_chart(row, base, datasets).spec):
            _, line = locate(data, ("charts", key, name))
            edits.append(ChartEdit(key, name, theirs, ours, line))
    return edits


def _shown(value: Any) -> str:
    return "(none)" if value is None or value == [] or value == {} else repr(value)


def edits_error(edits: list[ChartEdit], shown: Path) -> ChartsEditedError:
    """One error listing every edited field: chart key, field, Superset value vs YAML value."""
    keys = sorted({e.key for e in edits})
    lines = [f"line {e.line}: {e.key}.{e.field}: Superset {_shown(e.superset)} "
             f"vs YAML {_shown(e.yaml)}" for e in edits]
    noun = "chart was" if len(keys) == 1 else "charts were"
    return ChartsEditedError(
        f"{len(keys)} {noun} edited in Superset since the runner last wrote "
        f"{'it' if len(keys) == 1 else 'them'} ({', '.join(keys)}); a sync would overwrite:\n  "
        + "\n  ".join(lines),
        location=Location(shown),
        hint="`runner superset export` writes the UI edits into dashboards/ to keep them; "
        "`--force` overwrites them with the YAML",
    )
