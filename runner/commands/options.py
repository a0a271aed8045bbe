"""What several commands share: error handling, the common options, the run config."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from runner import publish
from runner.compile import CompiledProject
from runner.config import RunConfig, parse_vars
from runner.console import err_console, log, print_error, render_event, scrub
from runner.errors import RunnerError
from runner.selection import INDIRECT_SELECTION


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


def indirect_selection_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--indirect-selection` of the commands that select tests (build, test, ls)."""
    return click.option(
        "--indirect-selection", type=click.Choice(INDIRECT_SELECTION), default="eager",
        metavar="MODE", show_default=True,
        help="Tests of the selected models that run: eager (a test that reads any of them), "
        "cautious (only those whose every model is selected), buildable (or an ancestor of "
        "one), empty (only tests selected themselves)",
    )(fn)


def run_config(command: str, project_dir: Path, profiles_dir: Path | None, target: str | None,
               vars_: str | None, select: tuple[str, ...] = (), exclude: tuple[str, ...] = (),
               state: Path | None = None, **extra: Any) -> RunConfig:
    return RunConfig(
        project_dir=project_dir, profiles_dir=profiles_dir, target_name=target,
        vars=parse_vars(vars_), select=select, exclude=exclude, state_path=state,
        indirect_selection=extra.pop("indirect_selection", "eager"), command=command,
        full_refresh=extra.pop("full_refresh", False),
        fail_fast=extra.pop("fail_fast", False),
        store_failures=extra.pop("store_failures", False), args=extra,
    )


def sync_superset(cp: CompiledProject, *, force: bool = False,
                  written: frozenset[str] = frozenset()) -> bool:
    """Sync dashboards after a build that wrote `written`; False when Superset failed (the
    marts are written)."""
    try:
        result = publish.sync_after_build(cp, render_event, force=force, written=written)
    except RunnerError as exc:
        print_error(str(exc))
        err_console.print("The marts were written; the Superset sync failed.")
        return False
    log(f"Dashboard: {result.dashboard_url}")
    return True
