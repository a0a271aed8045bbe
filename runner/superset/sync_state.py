"""What the last full sync left in Superset, so that a build can skip a sync with nothing to do.

A full sync (`runner.superset.sync`) sends ~100 requests and re-reads every dataset's columns
through Spark: half a minute. After a build whose dashboards, docs and settings did not change,
all it has to do is mark the datasets of the marts the build wrote as changed: Superset's
chart-data cache key includes a dataset's `changed_on`, so their cached rows are no longer
served, and only their charts need warming (`touch`).

The quick path is taken only when everything the full sync would send is the same (the
`fingerprint` of the dashboard files, the models' docs, the target's settings, the Thrift login
and the sync code itself) and nothing the sync made was changed in Superset since (`observe`:
the `changed_on` of every managed dashboard, chart and dataset, three requests). Anything else,
a missing or unreadable state file included, means a full sync.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from runner.paths import state_dir
from runner.secret_files import write_private
from runner.superset.client import SupersetClient, to_rison
from runner.superset.sync import SyncResult

STATE_DIR = "superset-sync"
MARK = "runner_marts_written_at"  # the key of a dataset's `extra` that `touch` sets
_CODE = ("sync.py", "charts.py", "definitions.py", "sync_state.py")


class Seen(BaseModel):
    """`changed_on` of every managed object, by Superset id, as the runner last left them."""

    model_config = ConfigDict(extra="forbid")
    dashboards: dict[int, str] = {}
    charts: dict[int, str] = {}
    datasets: dict[int, str] = {}


class SyncState(BaseModel):
    """One target's last full sync and what happened to its datasets since."""

    model_config = ConfigDict(extra="forbid")
    fingerprint: str
    dashboard_url: str
    database_id: int
    dashboard_id: int
    dashboard_ids: list[int]
    chart_ids: dict[str, int]  # of the last dashboard, as `SyncResult.chart_ids`
    datasets: dict[str, tuple[int, str]]  # name -> (id, mart)
    seen: Seen
    touched: list[int] = []  # datasets marked changed and not warmed yet
    flushed: bool = False  # the whole data cache was emptied since the last warm-up

    @classmethod
    def after_full_sync(cls, fingerprint: str, result: SyncResult) -> SyncState:
        """The record of a full sync; its `seen` is filled by `observe`, and the whole cache
        counts as emptied (the sync changed every dataset)."""
        return cls(
            fingerprint=fingerprint, dashboard_url=result.dashboard_url,
            database_id=result.database_id, dashboard_id=result.dashboard_id,
            dashboard_ids=list(result.dashboard_ids), chart_ids=result.chart_ids,
            datasets={name: (ds_id, result.dataset_marts[name])
                      for name, ds_id in result.dataset_ids.items()},
            seen=Seen(), flushed=True,
        )

    def result(self) -> SyncResult:
        """What the last full sync left, as `sync_dashboards` returns it (nothing sent now)."""
        return SyncResult(
            self.dashboard_url, self.database_id,
            {name: ds_id for name, (ds_id, _) in self.datasets.items()}, self.chart_ids,
            self.dashboard_id, 0, 0, 0, (), tuple(self.dashboard_ids),
            {name: mart for name, (_, mart) in self.datasets.items()},
        )

    def dataset_ids(self, marts: set[str] | frozenset[str]) -> list[int]:
        """The datasets that read any of `marts`."""
        return sorted(ds_id for ds_id, mart in self.datasets.values() if mart in marts)


def state_path(project_dir: Path, target_name: str) -> Path:
    return state_dir(project_dir, STATE_DIR) / f"{target_name}.json"


def load(path: Path) -> SyncState | None:
    """The saved state; None when there is none or it cannot be read (a full sync follows)."""
    try:
        return SyncState.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def save(path: Path, state: SyncState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, state.model_dump_json(indent=1))


def forget(path: Path) -> None:
    path.unlink(missing_ok=True)


def fingerprint(dashboards_dir: Path, settings: dict[str, Any], docs: dict[str, Any],
                database_login: tuple[str, str] | None) -> str:
    """A digest of everything a full sync sends: change any of it and the next sync is full."""
    digest = hashlib.sha256()
    for path in sorted(p for p in dashboards_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(dashboards_dir)).encode() + b"\0" + path.read_bytes())
    here = Path(__file__).parent
    for name in _CODE:
        digest.update((here / name).read_bytes())
    digest.update(json.dumps([settings, docs, database_login], sort_keys=True).encode())
    return digest.hexdigest()


def observe(client: SupersetClient, state: SyncState) -> Seen:
    """The current `changed_on` of the state's dashboards, their charts and its datasets."""
    seen = Seen()
    for dash_id in state.dashboard_ids:
        dash = client.request("GET", f"/api/v1/dashboard/{dash_id}")["result"]
        seen.dashboards[dash_id] = str(dash.get("changed_on"))
        for chart in client.request("GET", f"/api/v1/dashboard/{dash_id}/charts")["result"]:
            seen.charts[int(chart["id"])] = str(chart.get("changed_on"))
    seen.datasets = _datasets_changed_on(client, state.database_id)
    ours = {ds_id for ds_id, _ in state.datasets.values()}
    seen.datasets = {k: v for k, v in seen.datasets.items() if k in ours}
    return seen


def _datasets_changed_on(client: SupersetClient, database_id: int) -> dict[int, str]:
    return {ds_id: str(row["changed_on_utc"])
            for ds_id, row in _datasets(client, database_id, "changed_on_utc").items()}


def _datasets(client: SupersetClient, database_id: int, *columns: str) -> dict[int, dict[str, Any]]:
    """The database's datasets by id, each with `columns` (one request)."""
    query = {"filters": [{"col": "database", "opr": "rel_o_m", "value": database_id}],
             "columns": ["id", *columns], "page_size": 100}
    rows = client.request("GET", "/api/v1/dataset/", params={"q": to_rison(query)})["result"]
    return {int(row["id"]): row for row in rows}


def touch(client: SupersetClient, state: SyncState, dataset_ids: list[int]) -> None:
    """Mark datasets as changed (their `changed_on` moves, so do their chart-data cache keys)
    and record their new `changed_on` in `state`.

    The mark is a key of the dataset's `extra` JSON; its other keys (a certification, a warning
    set in the UI) are kept."""
    if not dataset_ids:
        return
    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
    extras = _datasets(client, state.database_id, "extra")
    for ds_id in dataset_ids:
        try:
            extra = json.loads(extras.get(ds_id, {}).get("extra") or "{}")
        except ValueError:
            extra = {}
        extra = (extra if isinstance(extra, dict) else {}) | {MARK: stamp}
        client.request("PUT", f"/api/v1/dataset/{ds_id}", json={"extra": json.dumps(extra)})
    now = _datasets_changed_on(client, state.database_id)
    state.seen.datasets.update({k: now[k] for k in dataset_ids if k in now})
    state.touched = sorted(set(state.touched) | set(dataset_ids))
