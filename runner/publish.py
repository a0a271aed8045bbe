"""The work that follows a build: record it, sync the dashboards, keep Superset's cache current.

The commands call it once the build returned what it wrote (`runner.build.BuildResult`); the
build itself knows nothing of dashboards. Superset is touched once per command:

- `runner build` syncs the dashboards (`sync_after_build`). When nothing a full sync sends
  changed since the last one, the quick sync only marks the datasets of the written marts
  changed (`sync_state.touch`) and warms their charts; otherwise a full sync changes every
  dataset and warms them all.
- `run`, `test`, `retry` and `build --no-superset` only mark those datasets changed
  (`mark_written`), or empty the whole data cache when that cannot be done; the next sync warms
  them.
- `runner superset sync` is a full sync (`sync_dashboards`).
"""

from __future__ import annotations

import time
from pathlib import Path

from runner.build import BuildResult
from runner.cassandra import build_info
from runner.cassandra.client import connect
from runner.compile import CompiledProject
from runner.config import Target
from runner.errors import RunnerError, ServiceError
from runner.interrupts import InterruptWatch
from runner.local import redis_server, superset_server, thrift
from runner.local import superset_cache as warm
from runner.local.services import up
from runner.results import Callback, Info, RunResult
from runner.superset import sync as superset_sync
from runner.superset import sync_state
from runner.superset.client import SupersetClient

TOUCH_TIMEOUT = 15.0  # seconds per request marking datasets changed after a write


def publish_run(cp: CompiledProject, built: BuildResult, callback: Callback, *,
                sync_follows: bool) -> None:
    """Record a run that wrote marts in `build_info` and, unless the command syncs the
    dashboards next (`sync_follows`), mark what it wrote changed in Superset.

    A run that failed outside its nodes, or was interrupted, is not recorded; what it wrote is
    still marked (a failed write may have changed rows). A failure to record is a warning.
    """
    if not built.written:
        return
    # As while the build ran: a first SIGINT or SIGTERM does not stop this work halfway.
    with InterruptWatch():
        if built.failure is None and not built.run.interrupted:
            try:
                record_build(cp.target, built.run, callback)
            except RunnerError as exc:
                callback(Info(f"Warning: the build was not recorded in Cassandra: {exc.message}"))
        if not sync_follows:
            mark_written(cp.project.dir, cp.target, callback, built.written)


def tables_written(marts: frozenset[str]) -> frozenset[str]:
    """The Cassandra tables a run that wrote `marts` changed: they and `build_info`.

    Example:
        >>> sorted(tables_written(frozenset({"segment_summary"})))
        ['build_info', 'segment_summary']
        >>> tables_written(frozenset())
        frozenset()
    """
    return marts | {build_info.BUILD_INFO} if marts else frozenset()


def record_build(target: Target, run: RunResult, callback: Callback) -> None:
    """Write one row per build to `<keyspace>.build_info` (the dashboard shows the last one)."""
    assert target.cassandra is not None
    ks = target.cassandra.keyspace
    session = connect(target.cassandra)
    try:
        session.execute(build_info.create_table_cql(ks))
        session.execute(build_info.insert_cql(ks), build_info.build_info_row(run))
    finally:
        session.cluster.shutdown()


def mark_written(project_dir: Path, target: Target, callback: Callback,
                 written: frozenset[str]) -> None:
    """A run wrote the marts `written`: make the managed Superset stop serving their cached rows.

    The datasets that read them (and `build_info`) are marked changed (`sync_state.touch`); when
    that cannot be done, the whole data cache is emptied. A failure of both is a warning.
    """
    if target.superset is None or not target.superset.managed or not written:
        return
    path = sync_state.state_path(project_dir, target.name)
    state = sync_state.load(path)
    if state is not None and superset_server.status(project_dir).running:
        try:
            login = superset_server.admin_login(project_dir, target.superset)[0]
            client = SupersetClient(target.superset.url, *login, timeout=TOUCH_TIMEOUT)
            sync_state.touch(client, state, state.dataset_ids(tables_written(written)))
            sync_state.save(path, state)
            return
        except RunnerError:
            pass  # the whole cache is emptied instead
    try:
        redis_server.flush_data(project_dir, target.superset.cache_port)
        if state is not None:
            state.flushed = True
            sync_state.save(path, state)
    except ServiceError as exc:
        callback(Info(f"Warning: {exc.message}; Superset may show the previous numbers until "
                      "`runner superset sync`"))


def sync_after_build(cp: CompiledProject, callback: Callback, *, written: frozenset[str],
                     force: bool = False) -> superset_sync.SyncResult:
    """The dashboard sync of `runner build`, which wrote the marts `written` (quick when it can).

    Raises:
        RunnerError: the sync failed; the written marts' datasets are marked changed first, so
            Superset does not serve their old rows.
    """
    try:
        return sync_dashboards(cp, callback, force=force, written=written, quick=True)
    except Exception:
        mark_written(cp.project.dir, cp.target, callback, written)
        raise


def sync_dashboards(
    cp: CompiledProject,
    callback: Callback,
    *,
    force: bool = False,
    written: frozenset[str] = frozenset(),
    quick: bool = False,
) -> superset_sync.SyncResult:
    """Bring up Superset (managed targets only) and apply dashboards/ with the models' docs;
    `force` overwrites charts edited in the UI.

    `quick` (after a build): when nothing a full sync sends changed since the last one and
    nothing it made was changed in Superset (`sync_state`), only the datasets of the `written`
    marts are marked changed and their charts warmed: the everyday loop of one mart does not
    wait for a full sync.
    """
    target = cp.target
    assert target.superset is not None
    login = None
    database_login = target.superset.thrift_credentials()
    if target.superset.managed:
        up(cp.project.dir, target, callback)
        login = superset_server.admin_login(cp.project.dir, target.superset)[0]
        database_login = thrift.thrift_login(cp.project.dir)
    docs = {
        name: {c.name: c.description for c in model.columns}
        for name, model in cp.project.models.items()
    }
    keyspace = target.cassandra.keyspace if target.cassandra else "default"
    dashboards_dir = cp.project.dir / cp.project.config.dashboard_paths[0]
    settings = {"url": target.superset.url, "database": target.superset.database_name,
                "thrift": [target.superset.thrift_host, target.superset.thrift_port],
                "keyspace": keyspace}
    fingerprint = sync_state.fingerprint(dashboards_dir, settings, docs, database_login)
    path = sync_state.state_path(cp.project.dir, target.name)
    started = time.perf_counter()
    client = SupersetClient.for_target(target.superset, login)
    state = sync_state.load(path) if quick and not force else None
    if (state is not None and state.fingerprint == fingerprint
            and sync_state.observe(client, state) == state.seen):
        sync_state.touch(client, state, state.dataset_ids(tables_written(written)))
        sync_state.save(path, state)
        callback(Info(f"Superset: dashboards unchanged, {len(state.touched)} datasets marked "
                      f"changed in {time.perf_counter() - started:.1f}s"))
        result = state.result()
    else:
        sync_state.forget(path)
        result = superset_sync.sync_dashboards(
            target.superset,
            dashboards_dir,
            cassandra_keyspace=keyspace,
            model_docs=docs,
            project_dir=cp.project.dir,
            login=login,
            database_login=database_login,
            force=force,
        )
        for edit in result.overwritten:
            callback(Info(f"Overwrote a UI edit (--force): {edit.key}.{edit.field}"))
        callback(Info(f"Superset synced in {time.perf_counter() - started:.1f}s"))
        state = sync_state.SyncState.after_full_sync(fingerprint, result)
        state.seen = sync_state.observe(client, state)
    if target.superset.managed and login is not None:
        _refresh_cache(cp.project.dir, target.superset.url, login, target.superset.cache_port,
                       callback, datasets=None if state.flushed else state.touched,
                       dashboards=state.dashboard_ids)
    state.touched, state.flushed = [], False
    sync_state.save(path, state)
    return result


def _refresh_cache(project_dir: Path, url: str, login: tuple[str, str], port: int,
                   callback: Callback, *, datasets: list[int] | None = None,
                   dashboards: list[int] | None = None) -> None:
    """Empty Superset's data cache and warm it (local.superset_cache); a failed warm-up warns.

    With `datasets`, only their remembered requests are replayed and nothing is emptied. The
    `dashboards` whose first view is not remembered (all of them when the cache was emptied) are
    opened once in headless Chromium.

    Raises:
        ServiceError: the cache could not be emptied.
    """
    if datasets is not None and not datasets:
        return
    result = warm.refresh_cache(project_dir, url, login, port, datasets=datasets,
                                dashboards=dashboards or ())
    if not result.flushed:
        callback(Info("Warning: Superset's cache (Redis) is not running: start it with "
                      "`runner up`"))
        return
    for visit in result.visits:
        callback(Info(f"Superset: dashboard {visit.slug} opened once to warm {visit.charts} "
                      f"charts ({visit.rendered} rendered) in {visit.seconds:.1f}s"))
    if result.unvisited is not None:
        slugs, why = result.unvisited
        which = f"dashboard {', '.join(slugs)}" if slugs else "each dashboard"
        callback(Info(f"Superset: {why}; {which} will be warmed on its first view"))
    what = "emptied and warmed" if datasets is None else f"warmed for {len(datasets)} datasets"
    callback(Info(f"Superset cache {what}: {result.warmed} chart queries in "
                  f"{result.seconds:.1f}s"))
    if result.failed:
        callback(Info(f"Warning: {result.failed} chart queries were not warmed (their first "
                      f"viewer waits for Spark): {result.errors[0]}"))
