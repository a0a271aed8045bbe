"""The managed Superset's chart cache after a build: what changed is dropped, then warmed.

Chart data is cached in the project's Redis. No viewer sees numbers older than the last build
once it ends, because:

1. as soon as a `run`/`build` has written its marts, the datasets that read them are marked
   changed in Superset (`sync_state.touch`): Superset's cache key includes a dataset's
   `changed_on`, so their cached rows are never served again, while the other charts stay
   cached. When that cannot be done (no record of a previous sync, Superset down), the whole
   data cache is emptied instead (`runner.publish.mark_written`);
2. a full sync updates every dataset, which moves every cache key the same way;
3. `refresh_cache`, the end of the sync, first opens in headless Chromium every managed
   dashboard whose first view is not known to be remembered — all of them after a full sync
   (`runner.local.dashboard_visit`) — so the browser's own first-view requests are computed and
   cached (and remembered from then on). It then replays the other chart-data requests viewers
   made (remembered by `runner.local.superset_config`) with `force: true` — all of them after a
   full sync, only those of the changed datasets otherwise — so the first viewer after a build
   finds the new numbers cached.

A request that fails while warming is reported, never fatal: that chart is only cold.

Only a managed Superset has this cache: the project's Redis (`runner.local.redis_server`), which
the config of `runner.local.superset_config` fills, so the warm-up lives beside them; it
reaches Superset through `runner.superset.client` like any client.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from runner.errors import RunnerError, SupersetError
from runner.local import dashboard_visit, redis_server
from runner.local.superset_config import VIEWED_INDEX, VIEWED_MAX, VIEWED_PREFIX
from runner.superset.client import SupersetClient

WARM_THREADS = 2  # the Thrift server has 2 cores
WARM_BUDGET = 180.0  # seconds of warming a build waits for at most


@dataclass(frozen=True)
class WarmResult:
    """What `refresh_cache` did.

    Args:
        flushed: whether the data cache was emptied (False: no Redis of this project runs).
        warmed: remembered requests replayed into the cache.
        dropped: remembered requests Superset refused (HTTP 4xx: a chart or dataset is gone),
            forgotten.
        failed: replays that failed otherwise (timeouts, HTTP 5xx) or were not reached within
            the budget; one message each in `errors`.
        seconds: wall time.
        errors: one message per failed replay.
        visits: the dashboards opened in Chromium to warm their first view.
        unvisited: the dashboards that needed a visit but got none, and why (Chromium or
            Playwright missing, the visit failed); their first viewer waits.
    """

    flushed: bool
    warmed: int
    dropped: int
    failed: int
    seconds: float
    errors: tuple[str, ...] = ()
    visits: tuple[dashboard_visit.Visit, ...] = ()
    unvisited: tuple[tuple[str, ...], str] | None = None


def remembered(project_dir: Path, port: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The chart-data requests viewers made, most recent first: (key, query string, body)."""
    conn = redis_server.client(project_dir, port, db=redis_server.USER_DB)
    found: list[bytes] = conn.zrevrange(VIEWED_INDEX, 0, VIEWED_MAX - 1)  # type: ignore[assignment]
    keys = [k.decode() for k in found]
    raws: list[bytes | None] = (
        conn.mget([VIEWED_PREFIX + k for k in keys]) if keys else []  # type: ignore[assignment]
    )
    out, gone = [], []
    for key, raw in zip(keys, raws, strict=True):
        if raw is None:
            gone.append(key)
            continue
        req = json.loads(raw)
        out.append((key, str(req["query"]), dict(req["body"])))
    if gone:
        conn.zrem(VIEWED_INDEX, *gone)
    return out


def remembered_since(project_dir: Path, port: int, since: float) -> set[str]:
    """The keys of the chart-data requests remembered at or after `since` (time.time())."""
    conn = redis_server.client(project_dir, port, db=redis_server.USER_DB)
    found: list[bytes] = conn.zrangebyscore(VIEWED_INDEX, since, "+inf")  # type: ignore[assignment]
    return {k.decode() for k in found}


def dataset_of(body: dict[str, Any]) -> int | None:
    """The dataset id a chart-data request reads (`datasource` is {"id", "type"} or "12__table")."""
    source = body.get("datasource") or (body.get("form_data") or {}).get("datasource")
    if isinstance(source, dict):
        source = source.get("id")
    if isinstance(source, str):
        source = source.split("__", 1)[0]
    try:
        return int(source) if source is not None else None
    except (TypeError, ValueError):
        return None


def forget(project_dir: Path, port: int, keys: list[str]) -> None:
    """Drop remembered requests (Superset refused them)."""
    if keys:
        conn = redis_server.client(project_dir, port, db=redis_server.USER_DB)
        conn.zrem(VIEWED_INDEX, *keys)
        conn.delete(*[VIEWED_PREFIX + k for k in keys])


def refresh_cache(
    project_dir: Path,
    url: str,
    login: tuple[str, str],
    port: int,
    *,
    budget: float = WARM_BUDGET,
    threads: int = WARM_THREADS,
    datasets: Collection[int] | None = None,
    dashboards: Sequence[int] = (),
) -> WarmResult:
    """Empty the data cache, open the `dashboards` in Chromium, then replay the remembered
    chart-data requests with `force: true`.

    With `datasets`, nothing is emptied, only the dashboards with a chart no remembered request
    covers are opened, and only the requests that read one of those datasets are replayed: the
    others' cached rows are still current (`sync_state.touch`). A request the visit made again
    is not replayed (its result was just cached).

    Raises:
        ServiceError: Redis runs but could not be emptied (cached numbers could be stale).
    """
    began = time.monotonic()
    if datasets is None and not redis_server.flush_data(project_dir, port):
        return WarmResult(False, 0, 0, 0, time.monotonic() - began)
    try:
        requests_ = remembered(project_dir, port)
    except redis.RedisError as exc:
        return WarmResult(True, 0, 0, 1, time.monotonic() - began,
                          (f"reading the remembered chart queries failed: {exc}",))
    visits, since, unvisited = _visit(project_dir, url, login, port, dashboards, requests_,
                               full_sync=datasets is None, budget=budget)
    local = threading.local()
    deadline = began + budget

    def replay(item: tuple[str, str, dict[str, Any]]) -> tuple[str, str | None]:
        key, query, body = item
        if time.monotonic() > deadline:
            return "late", f"not warmed within {budget:.0f} s"
        try:
            if not hasattr(local, "client"):
                local.client = SupersetClient(url, *login)
            path = "/api/v1/chart/data" + (f"?{query}" if query else "")
            local.client.request("POST", path, json={**body, "force": True})
        except SupersetError as exc:
            if " HTTP 4" in exc.message and " HTTP 401" not in exc.message:
                return "dropped", None
            return "failed", exc.message
        except RunnerError as exc:
            return "failed", exc.message
        return "warmed", None

    if since is not None:
        try:
            fresh = remembered_since(project_dir, port, since)
        except redis.RedisError:
            fresh = set()
        requests_ = [r for r in requests_ if r[0] not in fresh]
    if datasets is not None:
        requests_ = [r for r in requests_ if dataset_of(r[2]) in set(datasets)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="warm") as pool:
        outcomes = list(pool.map(replay, requests_))
    dropped = [item[0] for item, (kind, _) in zip(requests_, outcomes, strict=True)
               if kind == "dropped"]
    try:
        forget(project_dir, port, dropped)
    except redis.RedisError:
        pass  # forgotten next time
    errors = tuple(msg for kind, msg in outcomes if msg is not None)
    return WarmResult(True, sum(kind == "warmed" for kind, _ in outcomes), len(dropped),
                      len(errors), time.monotonic() - began, errors, visits, unvisited)


def _visit(project_dir: Path, url: str, login: tuple[str, str], port: int,
           dashboard_ids: Sequence[int], requests_: list[tuple[str, str, dict[str, Any]]], *,
           full_sync: bool, budget: float,
           ) -> tuple[tuple[dashboard_visit.Visit, ...], float | None,
                      tuple[tuple[str, ...], str] | None]:
    """Open the dashboards whose first view is not remembered (all after a full sync).

    Returns:
        The visits; when they began (time.time(); None: no visit); the dashboards that needed
        one but got none, with why.
    """
    if not dashboard_ids:
        return (), None, None
    try:
        boards = dashboard_visit.load_dashboards(SupersetClient(url, *login), dashboard_ids)
    except RunnerError as exc:
        return (), None, ((), f"reading the dashboards failed: {exc.message}")
    viewed = {dashboard_visit.viewed_chart(query, body) for _, query, body in requests_}
    needed = dashboard_visit.dashboards_to_visit(boards, viewed, full_sync=full_sync)
    if not needed:
        return (), None, None
    since = time.time()
    try:
        visits = dashboard_visit.visit_dashboards(
            url, login, needed, budget=min(budget, dashboard_visit.VISIT_BUDGET))
    except RunnerError as exc:
        return (), since, (tuple(board.slug for board in needed), exc.message)
    return tuple(visits), since, None
