"""`runner superset`: the dashboards defined in dashboards/, both ways."""

from __future__ import annotations

from typing import Any

import click

from runner import publish
from runner.commands.options import Exit, common_options, handle_errors, run_config
from runner.compile import CompiledProject, compile_project
from runner.console import log, print_error, render_event, set_secrets
from runner.errors import RunnerError
from runner.local import superset_server
from runner.superset.edits import ChartsEditedError
from runner.superset.export import export_dashboards


@click.group()
def superset() -> None:
    """Superset dashboards defined in dashboards/."""


def _compile(command: str, **kwargs: Any) -> CompiledProject:
    cp = compile_project(run_config(command, **kwargs), check_sql=False)
    set_secrets(cp.target.secrets())
    if cp.target.superset is None:
        raise RunnerError(f"target '{cp.target.name}' has no superset: section",
                          hint="add superset: to the target in profiles.yml")
    return cp


@superset.command(name="sync")
@common_options
@click.option("--force", is_flag=True, help="Overwrite charts edited in Superset's UI")
@handle_errors
def superset_sync(debug: bool, force: bool, **kwargs: Any) -> None:
    """Apply dashboards/ to Superset through its REST API (idempotent).

    Refuses (exit 1) when a managed chart was edited in the UI since the last sync: keep the
    edit with `runner superset export`, or overwrite it with --force. Other failures exit 3.
    """
    cp = _compile("superset-sync", **kwargs)
    try:
        result = publish.sync_dashboards(cp, render_event, force=force)
    except ChartsEditedError:
        raise
    except RunnerError as exc:
        print_error(str(exc))
        raise Exit(3) from exc
    log(f"Dashboard: {result.dashboard_url}")


@superset.command(name="export")
@common_options
@handle_errors
def superset_export(debug: bool, **kwargs: Any) -> None:
    """Write the managed charts and layout as they are in Superset into dashboards/*.yml."""
    cp = _compile("superset-export", **kwargs)
    target = cp.target
    assert target.superset is not None
    login = None
    if target.superset.managed:
        login = superset_server.admin_login(cp.project.dir, target.superset)[0]
    result = export_dashboards(
        target.superset,
        cp.project.dir / cp.project.config.dashboard_paths[0],
        cassandra_keyspace=target.cassandra.keyspace if target.cassandra else "default",
        project_dir=cp.project.dir,
        login=login,
    )
    for change in result.changes:
        log(f"{change.path}:{change.line}: {change.where}: {_shown(change.before)} → "
            f"{_shown(change.after)}")
    for note in result.notes:
        log(f"Not exported: {note}")
    files = sorted({str(c.path) for c in result.changes})
    log(f"Exported {len(result.changes)} change(s) into {', '.join(files)}" if files
        else "No changes: dashboards/ matches Superset")


def _shown(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], tuple):  # layout sections
        return "; ".join(f"{title}: {rows}" for title, rows in value)
    return "(none)" if value is None else repr(value)
