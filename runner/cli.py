"""The `runner` command: thin click commands over the core; `runner.console` renders.

This module holds the group and the build commands; the others live in `runner.commands`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from runner import __version__, publish
from runner.build import BuildResult, run_build
from runner.chart_check import charts_reading
from runner.commands.explore import diff_, docs, explain_user, show
from runner.commands.lint import lint
from runner.commands.options import (
    Exit,
    common_options,
    handle_errors,
    indirect_selection_option,
    run_config,
    selection_options,
    sync_superset,
)
from runner.commands.services import debug_, down, engine, setup, status, up
from runner.commands.superset import superset
from runner.compile import CompiledProject, compile_project, write_manifest
from runner.config import RunConfig, load_project_config, project_folders
from runner.console import err_console, log, print_summary, render_event, set_secrets
from runner.errors import RunnerError
from runner.explore import diff
from runner.generate import generate_dataset
from runner.lock import LockHolder, project_lock, this_process
from runner.paths import check_target_path, remove_tree
from runner.results import RunResult
from runner.retry import retry_config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runner")
def main() -> None:
    """dbt-style Spark SQL builds for the fintech onboarding marts."""
    os.umask(0o077)  # what the runner and the services it starts write: readable by its owner only


# -- build / run -----------------------------------------------------------------------------


def _execute(command: str, *, sync: bool = False,
             **kwargs: Any) -> tuple[CompiledProject, BuildResult]:
    return _execute_config(run_config(command, **kwargs), sync=sync)


def _lock_holder(what: str = "building") -> LockHolder:
    """This command as the project lock records it: the warm engine passes its client's
    (`obj` of the click context), else this process."""
    ctx = click.get_current_context(silent=True)
    holder = ctx.find_object(LockHolder) if ctx is not None else None
    return holder if holder is not None else this_process(sys.argv[1:], what)


def _execute_config(cfg: RunConfig, *, sync: bool = False,
                    locked: bool = False) -> tuple[CompiledProject, BuildResult]:
    """Compile once, run and publish the run under the project lock, print the summary.

    With `locked`, the caller holds the lock already (`retry`, which reads the last run's
    results under it). With `sync`, the command syncs the dashboards next (when the run neither
    failed nor was interrupted), and that sync marks what the run wrote. An interrupted run
    exits 130 after its summary.
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
    with nullcontext() if locked else project_lock(cp.project.dir, _lock_holder()):
        built = run_build(cp, cfg, render_event)
        run = built.run
        sync_follows = (sync and cp.target.superset is not None and built.failure is None
                        and not run.interrupted)
        publish.publish_run(cp, built, render_event, sync_follows=sync_follows)
        if built.failure is not None:
            raise built.failure
    print_summary(run, started)
    stored = [r for r in run.results if r.failures and "stored in" in r.message]
    if stored:
        log(f"Failing rows of {len(stored)} tests stored under "
            f"{cp.project.target_layout.test_failures}")
    if run.interrupted:
        err_console.print(f"[yellow]Interrupted ({run.signal or 'SIGINT'}).[/yellow] "
                          "run_results.json records what was done; `runner retry` runs the rest.")
        raise Exit(143 if run.signal == "SIGTERM" else 130)
    return cp, built


@main.command()
@common_options
@selection_options
@click.option("--full-refresh", is_flag=True, help="Drop and recreate Cassandra tables")
@click.option("--fail-fast", "-x", is_flag=True, help="Stop at the first error")
@handle_errors
def run(debug: bool, **kwargs: Any) -> None:
    """Build the selected models (no dashboard sync)."""
    _, built = _execute("run", **kwargs)
    if not built.run.success:
        raise Exit(1)


@main.command()
@common_options
@selection_options
@indirect_selection_option
@click.option("--full-refresh", is_flag=True, help="Drop and recreate Cassandra tables")
@click.option("--fail-fast", "-x", is_flag=True, help="Stop at the first error")
@click.option("--store-failures", is_flag=True,
              help="Keep the failing rows of each test under target/test_failures/")
@click.option("--no-superset", is_flag=True, help="Do not sync dashboards after the models")
@click.option("--force", is_flag=True, help="Overwrite dashboard charts edited in Superset's UI")
@handle_errors
def build(debug: bool, no_superset: bool, force: bool, **kwargs: Any) -> None:
    """Build the selected models and run their tests, then sync the Superset dashboards."""
    cp, built = _execute("build", sync=not no_superset, **kwargs)
    result = built.run
    synced = True
    if cp.target.superset is not None and not no_superset:
        synced = sync_superset(cp, force=force, written=built.written)
    # The worst failure decides the exit code: a model error (1) is never hidden by a sync one (3).
    code = 1 if not result.success else (0 if synced else 3)
    if cp.target.cassandra is not None:
        ks = cp.target.cassandra.keyspace
        host = f"{cp.target.cassandra.hosts[0]}:{cp.target.cassandra.port}"
        log(f"Marts in Cassandra: {host} keyspace {ks}  (Parquet copies: "
            f"{cp.project.target_layout.marts})")
    else:
        log(f"Marts (Parquet): {cp.project.target_layout.marts}")
    _log_changes(cp, result)
    if code:
        raise Exit(code)


@main.command(name="test")
@common_options
@selection_options
@indirect_selection_option
@click.option("--fail-fast", "-x", is_flag=True, help="Stop at the first failure")
@click.option("--store-failures", is_flag=True,
              help="Keep the failing rows of each test under target/test_failures/")
@handle_errors
def test_(debug: bool, **kwargs: Any) -> None:
    """Run the data and unit tests of the selected models (or tests selected by name)."""
    _, built = _execute("test", **kwargs)
    if not built.run.success:
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
    load_project_config(project_dir)  # a folder that is no project gets no .runner/ folder
    # Under the lock from the start: a build running now rewrites run_results.json.
    with project_lock(project_dir, _lock_holder()):
        cfg = retry_config(project_dir, profiles_dir)
        if cfg is None:
            log("Nothing to retry: the last run had no errors or skipped nodes.")
            return
        log(f"Retrying the last `runner {cfg.command}`: {', '.join(cfg.select)}")
        _, built = _execute_config(cfg, locked=True)
    if not built.run.success:
        raise Exit(1)


# -- compile / ls ----------------------------------------------------------------------------


@main.command(name="compile")
@common_options
@selection_options
@handle_errors
def compile_(debug: bool, **kwargs: Any) -> None:
    """Render every selected model and check its SQL with sqlglot (no Spark)."""
    cp = compile_project(run_config("compile", **kwargs))
    out = cp.project.target_layout.compiled
    log(f"Compiled {len(cp.selected)} models and {len(cp.selected_tests)} tests to {out}; "
        "SQL parses (sqlglot, spark dialect).")
    write_manifest(cp)
    log(f"Manifest: {cp.project.target_layout.manifest}")


@main.command(name="ls")
@common_options
@selection_options
@indirect_selection_option
@click.option("--output", type=click.Choice(["name", "path", "json"]), default="name")
@click.option("--resource-type", type=click.Choice(["model", "test", "chart", "all"]),
              default="model", show_default=True,
              help="List models, data tests, the dashboard charts that read them, or all")
@handle_errors
def ls(debug: bool, output: str, resource_type: str, **kwargs: Any) -> None:
    """List the selected models in build order (and/or their data tests and charts)."""
    cp = compile_project(run_config("ls", **kwargs), check_sql=False)
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


def _log_changes(cp: CompiledProject, run: RunResult) -> None:
    """The end of a build: what changed in each mart it rebuilt (`runner diff` for details)."""
    try:
        lines = diff.build_changes(cp, run)
    except RunnerError as exc:
        err_console.print(f"[yellow]No change summary: {escape(exc.message)}[/yellow]")
        return
    for line in lines:
        log(f"Changes: {line}")


# -- clean / generate ------------------------------------------------------------------------


@main.command()
@common_options
@handle_errors
def clean(debug: bool, project_dir: Path, profiles_dir: Path | None, **_: Any) -> None:
    """Delete the target folder (compiled SQL, Parquet marts, artifacts)."""
    cfg = load_project_config(project_dir)
    path = check_target_path(project_dir, cfg.target_path,
                             project_folders(project_dir, cfg, profiles_dir))
    with project_lock(project_dir, _lock_holder("using")):
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


for command in (setup, up, down, status, debug_, engine, show, diff_, explain_user, docs,
                superset):
    main.add_command(command)
main.add_command(lint)


if __name__ == "__main__":
    main()
