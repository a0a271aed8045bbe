"""The local services: setup, up, down, status, debug and the warm `engine`."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from runner.commands.debug_checks import run_checks
from runner.commands.options import Exit, common_options, handle_errors
from runner.config import Target, load_project_config, load_target
from runner.console import console, log, render_event, scrub, set_secrets
from runner.engine.lifecycle import engine_status, start_engine, stop_engine
from runner.engine.protocol import choose_engine
from runner.local import services


def _target(project_dir: Path, profiles_dir: Path | None, target: str | None) -> Target:
    cfg = load_project_config(project_dir)
    return load_target(project_dir.resolve(), cfg.profile or cfg.name, target, profiles_dir)


@click.command(name="debug")
@common_options
@handle_errors
def debug_(debug: bool, project_dir: Path, profiles_dir: Path | None, target: str | None,
           vars_: str | None) -> None:
    """Check the project, the profile and the connections of the target."""
    ok = True
    for name, passed, detail in run_checks(project_dir, profiles_dir, target):
        mark = "[green]OK[/green]" if passed else "[red]FAIL[/red]"
        console.print(f"  {name:<22} {mark}  {escape(scrub(detail))}")
        ok = ok and passed
    if not ok:
        raise Exit(1)
    console.print("All checks passed!")


@click.command()
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--debug", is_flag=True)
@handle_errors
def setup(project_dir: Path, debug: bool) -> None:
    """Install what the local services need: Maven jars, the Superset venv, Chromium."""
    services.setup(project_dir.resolve(), render_event)
    log("Setup complete.")


@click.command()
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


@click.command()
@common_options
@handle_errors
def down(debug: bool, project_dir: Path, **_: Any) -> None:
    """Stop the services this project started (by PID file)."""
    if stop_engine(project_dir):
        log("stopped engine")
    for name in services.down(project_dir.resolve()):
        log(f"stopped {name}")


@click.command()
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


@click.group()
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
