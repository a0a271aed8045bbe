"""The `runner` command: thin click commands over the core; `runner.console` renders."""

from __future__ import annotations

import difflib
import functools
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from runner import __version__, diff, explain, preview
from runner.build import run_build
from runner.chart_check import charts_reading
from runner.compile import CompiledProject, compile_project, write_manifest
from runner.config import RunConfig, Target, load_project_config, load_target, parse_vars
from runner.console import (
    console,
    err_console,
    log,
    print_error,
    print_summary,
    render_event,
    scrub,
    set_secrets,
)
from runner.docs.serve import serve as serve_docs
from runner.docs.site import generate_site
from runner.engine.lifecycle import engine_status, start_engine, stop_engine
from runner.engine.protocol import choose_engine
from runner.errors import RunnerError
from runner.generate import generate_dataset
from runner.local import checks, services
from runner.lock import project_lock
from runner.paths import check_target_path, remove_tree
from runner.report_tables import render_diffs, render_explanation, render_preview
from runner.results import RunResult
from runner.retry import retry_config


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """RunnerError → red `Error: ...`, exit 1; anything else → short message, exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = kwargs.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except Exit as exc:
            sys.exit(exc.code)
        except RunnerError as exc:
            if debug:
                traceback.print_exc()
            print_error(str(exc))
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("[yellow]Interrupted.[/yellow]")
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - any other error: one line, exit 2
            if debug:
                traceback.print_exc()
            msg = scrub(f"{type(exc).__name__}: {exc}".splitlines()[0])
            err_console.print(f"[red]Unexpected error: {escape(msg)}[/red]")
            err_console.print("Run again with --debug to see the traceback.")
            sys.exit(2)

    return wrapper


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=Path("."), show_default=True, help="Folder with runner_project.yml"),
        click.option("--profiles-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Folder with profiles.yml (default: $RUNNER_PROFILES_DIR, "
                     "~/.runner, then the project folder)"),
        click.option("-t", "--target", "target", default=None, help="Target in the profile"),
        click.option("--vars", "vars_", default=None, help="YAML/JSON mapping of variables"),
        click.option("--debug", is_flag=True, help="Show tracebacks"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def selection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("-s", "--select", "select", multiple=True, help="Nodes to include"),
        click.option("--exclude", multiple=True, help="Nodes to leave out"),
        click.option("--state", type=click.Path(path_type=Path), default=None,
                     help="Folder with a saved manifest.json, for state:modified"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run_config(command: str, project_dir: Path, profiles_dir: Path | None, target: str | None,
                vars_: str | None, select: tuple[str, ...] = (), exclude: tuple[str, ...] = (),
                state: Path | None = None, **extra: Any) -> RunConfig:
    return RunConfig(
        project_dir=project_dir, profiles_dir=profiles_dir, target_name=target,
        vars=parse_vars(vars_), select=select, exclude=exclude, state_path=state,
        command=command, full_refresh=extra.pop("full_refresh", False),
        fail_fast=extra.pop("fail_fast", False),
        store_failures=extra.pop("store_failures", False), args=extra,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runner")
def main() -> None:
    """dbt-style Spark SQL builds for the fintech onboarding marts."""
    os.umask(0o077)  # what the runner and the services it starts write: readable by its owner only


# -- build / run -----------------------------------------------------------------------------


def _execute(command: str, **kwargs: Any) -> tuple[RunConfig, CompiledProject, RunResult]:
    cfg = _run_config(command, **kwargs)
    cp, run = _execute_config(cfg)
    return cfg, cp, run


def _execute_config(cfg: RunConfig) -> tuple[CompiledProject, RunResult]:
    """Compile once, run under the project lock, print the summary.

    An interrupted run exits 130 after its summary.
    """
    started = time.perf_counter()
    log(f"Running with runner={__version__}")
    cp = compile_project(cfg)
    set_secrets(cp.target.secrets())
    log(f"Target '{cp.target.name}': Spark {cp.target.spark.master}, "
        f"{len(cp.models)} models, {len(cp.project.sources)} sources, "
        f"{len(cp.project.macros)} macro files, {len(cp.tests)} tests, "
        f"{len(cp.unit_tests)} unit tests; {len(cp.selected)} models, "
        f"{len(cp.selected_tests)} tests and {len(cp.selected_unit_tests)} unit tests selected")
    with project_lock(cp.project.dir):
        run = run_build(cp, cfg, render_event)
    print_summary(run, started)
    stored = [r for r in run.results if r.failures and "stored in" in r.message]
    if stored:
        log(f"Failing rows of {len(stored)} tests stored under "
            f"{cp.project.target_dir / 'test_failures'}")
    if run.interrupted:
        err_console.print(f"[yellow]Interrupted ({run.signal or 'SIGINT'}).[/yellow] "
                          "run_results.json records what was done; `runner retry` runs the rest.")
        raise Exit(143 if run.signal == "SIGTERM" else 130)
    return cp, run


@main.command()
@common_options
@selection_options
@click.option("--full-refresh", is_flag=True, help="Drop and recreate Cassandra tables")
@click.option("--fail-fast", "-x", is_flag=True, help="Stop at the first error")
@handle_errors
def run(debug: bool, **kwargs: Any) -> None:
    """Build the selected models (no dashboard sync)."""
    _, _, result = _execute("run", **kwargs)
    if not result.success:
        raise Exit(1)


@main.command()
@common_options
@selection_options
@click.option("--full-refresh", is_flag=True, help="Drop and recreate Cassandra tables")
@click.option("--fail-fast", "-x", is_flag=True, help="Stop at the first error")
@click.option("--store-failures", is_flag=True,
              help="Keep the failing rows of each test under target/test_failures/")
@click.option("--no-superset", is_flag=True, help="Do not sync dashboards after the models")
@handle_errors
def build(debug: bool, no_superset: bool, **kwargs: Any) -> None:
    """Build the selected models and run their tests, then sync the Superset dashboards."""
    _cfg, cp, result = _execute("build", **kwargs)
    synced = True
    if cp.target.superset is not None and not no_superset:
        synced = _sync_superset(cp)
    # The worst failure decides the exit code: a model error (1) is never hidden by a sync one (3).
    code = 1 if not result.success else (0 if synced else 3)
    if cp.target.cassandra is not None:
        ks = cp.target.cassandra.keyspace
        host = f"{cp.target.cassandra.hosts[0]}:{cp.target.cassandra.port}"
        log(f"Marts in Cassandra: {host} keyspace {ks}  (Parquet copies: "
            f"{cp.project.target_dir / 'marts'})")
    else:
        log(f"Marts (Parquet): {cp.project.target_dir / 'marts'}")
    _log_changes(cp, result)
    if code:
        raise Exit(code)


@main.command(name="test")
@common_options
@selection_options
@click.option("--fail-fast", "-x", is_flag=True, help="Stop at the first failure")
@click.option("--store-failures", is_flag=True,
              help="Keep the failing rows of each test under target/test_failures/")
@handle_errors
def test_(debug: bool, **kwargs: Any) -> None:
    """Run the data and unit tests of the selected models (or tests selected by name)."""
    _, _, result = _execute("test", **kwargs)
    if not result.success:
        raise Exit(1)


@main.command()
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="Folder with runner_project.yml")
@click.option("--profiles-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder with profiles.yml")
@click.option("--debug", is_flag=True, help="Show tracebacks")
@handle_errors
def retry(project_dir: Path, profiles_dir: Path | None, debug: bool) -> None:
    """Re-run what errored or was skipped in the last run, with its arguments and vars."""
    cfg = retry_config(project_dir, profiles_dir)
    if cfg is None:
        log("Nothing to retry: the last run had no errors or skipped nodes.")
        return
    log(f"Retrying the last `runner {cfg.command}`: {', '.join(cfg.select)}")
    _, result = _execute_config(cfg)
    if not result.success:
        raise Exit(1)


def _sync_superset(cp: CompiledProject) -> bool:
    """Sync dashboards after a build; False when Superset failed (the marts are written)."""
    try:
        result = services.sync_dashboards(cp, render_event)
    except RunnerError as exc:
        print_error(str(exc))
        err_console.print("The marts were written; the Superset sync failed.")
        return False
    log(f"Dashboard: {result.dashboard_url}")
    return True


# -- compile / ls / show ---------------------------------------------------------------------


@main.command(name="compile")
@common_options
@selection_options
@handle_errors
def compile_(debug: bool, **kwargs: Any) -> None:
    """Render every selected model and check its SQL with sqlglot (no Spark)."""
    cp = compile_project(_run_config("compile", **kwargs))
    out = cp.project.target_dir / "compiled"
    log(f"Compiled {len(cp.selected)} models and {len(cp.selected_tests)} tests to {out}; "
        "SQL parses (sqlglot, spark dialect).")
    write_manifest(cp)
    log(f"Manifest: {cp.project.target_dir / 'manifest.json'}")


@main.command(name="ls")
@common_options
@selection_options
@click.option("--output", type=click.Choice(["name", "path", "json"]), default="name")
@click.option("--resource-type", type=click.Choice(["model", "test", "chart", "all"]),
              default="model", show_default=True,
              help="List models, data tests, the dashboard charts that read them, or all")
@handle_errors
def ls(debug: bool, output: str, resource_type: str, **kwargs: Any) -> None:
    """List the selected models in build order (and/or their data tests and charts)."""
    cp = compile_project(_run_config("ls", **kwargs), check_sql=False)
    if resource_type == "chart":
        _echo_charts(cp, output)
        return
    if resource_type != "model":
        for name in cp.selected_tests:
            t = cp.tests[name]
            if output == "json":
                click.echo(json.dumps({"name": name, "path": t.path.as_posix(),
                                       "resource_type": "test", "depends_on": list(t.refs),
                                       "severity": t.severity}))
            else:
                click.echo(name if output == "name" else t.path.as_posix())
        if resource_type == "test":
            return
    for name in cp.selected:
        m = cp.models[name]
        if output == "name":
            click.echo(name)
        elif output == "path":
            click.echo(m.path.as_posix())
        else:
            click.echo(json.dumps({"name": name, "path": m.path.as_posix(),
                                   "materialized": m.config.materialized,
                                   "depends_on": list(m.refs), "tags": m.config.tags}))
    if resource_type == "all":
        _echo_charts(cp, output)


def _echo_charts(cp: CompiledProject, output: str) -> None:
    """The charts of dashboards/ that read a selected model (`<dashboard>.<chart key>`)."""
    for ref in charts_reading(cp.project, cp.target, cp.selected):
        if output == "json":
            click.echo(json.dumps({"name": ref.name, "path": ref.path.as_posix(),
                                   "resource_type": "chart", "title": ref.chart.title,
                                   "dataset": ref.dataset.name, "depends_on": [ref.dataset.mart]}))
        else:
            click.echo(ref.name if output == "name" else ref.path.as_posix())


@main.command()
@click.argument("model", required=False)
@common_options
@click.option("--inline", default=None,
              help="A query instead of a model: \"select ... from {{ ref('x') }} where ...\"")
@click.option("--where", default=None, help="Spark SQL condition on MODEL's rows")
@click.option("--limit", "-n", default=10, show_default=True, help="Rows to show")
@click.option("--output", type=click.Choice(["table", "json"]), default="table")
@handle_errors
def show(model: str | None, debug: bool, inline: str | None, where: str | None, limit: int,
         output: str, **kwargs: Any) -> None:
    """Run MODEL (any layer) or an --inline query on Spark and print its first rows.

    Upstream marts are read from their last build; nothing is written.
    """
    if (model is None) == (inline is None) or (inline is not None and where is not None):
        raise RunnerError("give a MODEL (optionally with --where) or an --inline query",
                          hint="runner show stg_users --where \"user_id = 'MLB1'\" -n 20")
    cfg = _run_config("show", select=(model,) if model else (), **kwargs)
    cp = compile_project(cfg, check_sql=model is not None)
    if model is not None and model not in cp.models:
        close = difflib.get_close_matches(model, list(cp.models), n=1)
        raise RunnerError(f"model '{model}' not found",
                          hint=f"did you mean {close[0]}?" if close else "list models: runner ls")
    spark = preview.open_session(cp)
    rows = (preview.preview_inline(cp, spark, inline, limit=limit) if inline is not None
            else preview.preview_model(cp, spark, str(model), where=where, limit=limit))
    if output == "json":
        click.echo(json.dumps(preview.to_json(rows), indent=2, ensure_ascii=False))
    else:
        console.print(render_preview(rows, limit))


@main.command(name="diff")
@common_options
@selection_options
@click.option("--limit", "-n", default=20, show_default=True,
              help="Changed values listed per mart (0: all)")
@click.option("--output", type=click.Choice(["table", "json"]), default="table")
@handle_errors
def diff_(debug: bool, limit: int, output: str, **kwargs: Any) -> None:
    """Compare each selected mart's last build with the build before it (no Spark)."""
    cp = compile_project(_run_config("diff", **kwargs), check_sql=False)
    diffs = diff.diff_project(cp, limit=limit)
    if output == "json":
        click.echo(json.dumps(diff.to_json(diffs), indent=2, ensure_ascii=False))
    else:
        console.print(render_diffs(diffs, limit))


@main.command(name="explain-user")
@click.argument("user_id")
@common_options
@selection_options
@click.option("--key", default=None,
              help="The column to look in (default: the mart key every source has: user_id)")
@click.option("--limit", "-n", default=5, show_default=True, help="Rows shown per model")
@click.option("--output", type=click.Choice(["table", "json"]), default="table")
@handle_errors
def explain_user(user_id: str, debug: bool, key: str | None, limit: int, output: str,
                 **kwargs: Any) -> None:
    """Every row of USER_ID from the raw files to the marts, and why it is (not) in them."""
    cp = compile_project(_run_config("explain-user", **kwargs), check_sql=False)
    result = explain.explain_user(cp, preview.open_session(cp), user_id, key=key, limit=limit)
    if output == "json":
        click.echo(json.dumps(explain.to_json(result), indent=2, ensure_ascii=False))
    else:
        console.print(render_explanation(result))


def _log_changes(cp: CompiledProject, run: RunResult) -> None:
    """The end of a build: what changed in each mart it rebuilt (`runner diff` for details)."""
    try:
        lines = diff.build_changes(cp, run)
    except RunnerError as exc:
        err_console.print(f"[yellow]No change summary: {escape(exc.message)}[/yellow]")
        return
    for line in lines:
        log(f"Changes: {line}")


# -- debug / clean / generate ----------------------------------------------------------------


@main.command(name="debug")
@common_options
@handle_errors
def debug_(debug: bool, project_dir: Path, profiles_dir: Path | None, target: str | None,
           vars_: str | None) -> None:
    """Check the project, the profile and the connections of the target."""
    ok = True
    for name, passed, detail in checks.run_checks(project_dir, profiles_dir, target):
        mark = "[green]OK[/green]" if passed else "[red]FAIL[/red]"
        console.print(f"  {name:<22} {mark}  {escape(scrub(detail))}")
        ok = ok and passed
    if not ok:
        raise Exit(1)
    console.print("All checks passed!")


@main.command()
@common_options
@handle_errors
def clean(debug: bool, project_dir: Path, **_: Any) -> None:
    """Delete the target folder (compiled SQL, Parquet marts, artifacts)."""
    cfg = load_project_config(project_dir)
    path = check_target_path(project_dir, cfg.target_path)
    with project_lock(project_dir, "using"):
        remove_tree(path, [project_dir])
    log(f"Removed {path}")


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the three CSV files to")
@click.option("--users", default=13000, show_default=True, help="Distinct onboarding users")
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same bytes)")
@click.option("--heavy", is_flag=True, help="Many transactions per user on distinct days")
@click.option("--debug", is_flag=True)
@handle_errors
def generate(out: Path, users: int, seed: int, heavy: bool, debug: bool) -> None:
    """Generate realistic raw data with the same schema and defects as the originals."""
    started = time.perf_counter()
    counts = generate_dataset(out, users=users, seed=seed, heavy=heavy)
    for name, rows in counts.items():
        log(f"{name}: {rows} rows")
    log(f"Wrote {out} in {time.perf_counter() - started:.1f}s")


# -- services --------------------------------------------------------------------------------


def _target(project_dir: Path, profiles_dir: Path | None, target: str | None) -> Target:
    cfg = load_project_config(project_dir)
    return load_target(project_dir.resolve(), cfg.profile or cfg.name, target, profiles_dir)


@main.command()
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--debug", is_flag=True)
@handle_errors
def setup(project_dir: Path, debug: bool) -> None:
    """Install what the local services need: Maven jars, the Superset venv, Chromium."""
    services.setup(project_dir.resolve(), render_event)
    log("Setup complete.")


@main.command()
@common_options
@handle_errors
def up(debug: bool, project_dir: Path, profiles_dir: Path | None, target: str | None,
       **_: Any) -> None:
    """Start the local services of the target: Cassandra, Thrift server, Superset, and the
    warm engine when the target's spark.engine is daemon."""
    tgt = _target(project_dir, profiles_dir, target)
    set_secrets(tgt.secrets())
    started = time.perf_counter()
    services.up(project_dir.resolve(), tgt, render_event)
    if choose_engine(tgt.spark.engine, os.environ) == "daemon":
        _start_engine(project_dir, profiles_dir, target)
    log(f"All services up in {time.perf_counter() - started:.1f}s")


@main.command()
@common_options
@handle_errors
def down(debug: bool, project_dir: Path, **_: Any) -> None:
    """Stop the services this project started (by PID file)."""
    if stop_engine(project_dir):
        log("stopped engine")
    for name in services.down(project_dir.resolve()):
        log(f"stopped {name}")


@main.command()
@common_options
@handle_errors
def status(debug: bool, project_dir: Path, **_: Any) -> None:
    """Show whether each local service runs, where, and its data folder."""
    table = Table()
    for col in ("service", "state", "address", "detail"):
        table.add_column(col)
    for line in services.status(project_dir.resolve()):
        state = "[green]running[/green]" if line.running else "[red]stopped[/red]"
        table.add_row(line.name, state, line.address, escape(line.detail))
    eng = engine_status(project_dir)
    table.add_row("engine", "[green]running[/green]" if eng.running else "[red]stopped[/red]",
                  str(eng.socket), f"pid {eng.pid}, Spark {eng.master}, target {eng.target}"
                  if eng.running else f"log {eng.log_file}")
    console.print(table)


@main.group()
def engine() -> None:
    """The warm engine: one Spark session kept between build, run and test commands."""


def _start_engine(project_dir: Path, profiles_dir: Path | None, target: str | None) -> None:
    state = start_engine(project_dir, target, profiles_dir)
    took = f"started in {state.start_seconds:.1f}s" if state.started else "already running"
    log(f"engine     {state.socket} (pid {state.pid}, Spark {state.master}, target "
        f"{state.target})  {took}")


@engine.command(name="start")
@common_options
@handle_errors
def engine_start(debug: bool, project_dir: Path, profiles_dir: Path | None, target: str | None,
                 **_: Any) -> None:
    """Start the engine for the target; build/run/test then use it (RUNNER_ENGINE=process: not)."""
    _start_engine(project_dir, profiles_dir, target)


@engine.command(name="stop")
@common_options
@handle_errors
def engine_stop(debug: bool, project_dir: Path, **_: Any) -> None:
    """Stop the engine by its PID (a build it runs is cancelled first)."""
    log("engine stopped" if stop_engine(project_dir) else "no engine was running")


@engine.command(name="status")
@common_options
@handle_errors
def engine_status_(debug: bool, project_dir: Path, **_: Any) -> None:
    """Whether the engine runs, its PID, socket, target and log."""
    eng = engine_status(project_dir)
    if not eng.running:
        log(f"engine: not running (log {eng.log_file})")
        return
    log(f"engine: running, pid {eng.pid}, target {eng.target}, Spark {eng.master}, since "
        f"{eng.started_at}; socket {eng.socket}; log {eng.log_file}")


@main.group()
def superset() -> None:
    """Superset dashboards defined in dashboards/."""


@superset.command(name="sync")
@common_options
@handle_errors
def superset_sync(debug: bool, **kwargs: Any) -> None:
    """Apply dashboards/ to Superset through its REST API (idempotent)."""
    cp = compile_project(_run_config("superset-sync", **kwargs), check_sql=False)
    set_secrets(cp.target.secrets())
    if cp.target.superset is None:
        raise RunnerError(f"target '{cp.target.name}' has no superset: section",
                          hint="add superset: to the target in profiles.yml")
    if not _sync_superset(cp):
        raise Exit(3)


# -- docs ------------------------------------------------------------------------------------


@main.group()
def docs() -> None:
    """The documentation site: models, columns, tests, charts and their lineage."""


@docs.command(name="generate")
@common_options
@handle_errors
def docs_generate(debug: bool, **kwargs: Any) -> None:
    """Write the site to <target>/docs/ (opens from the file system, no server needed)."""
    started = time.perf_counter()
    cp = compile_project(_run_config("docs-generate", **kwargs))
    index = generate_site(cp)
    log(f"Docs written in {time.perf_counter() - started:.1f}s: {index}")
    log("Open it in a browser, or run `runner docs serve`.")


@docs.command(name="serve")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="Folder with runner_project.yml")
@click.option("--port", default=8080, show_default=True, help="Port on 127.0.0.1")
@click.option("--debug", is_flag=True, help="Show tracebacks")
@handle_errors
def docs_serve(project_dir: Path, port: int, debug: bool) -> None:
    """Serve <target>/docs/ on http://127.0.0.1:PORT/ (that folder only) until Ctrl-C."""
    folder = project_dir / load_project_config(project_dir).target_path / "docs"
    if not (folder / "index.html").is_file():
        raise RunnerError(f"no site in {folder}", hint="run `runner docs generate` first")
    log(f"Serving {folder} at http://127.0.0.1:{port}/ (Ctrl-C to stop)")
    serve_docs(folder, port)


if __name__ == "__main__":
    main()
