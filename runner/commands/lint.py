"""`runner lint`: sqlfluff on models/ and macros/ with the project's `.sqlfluff` rules."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from runner.commands.options import Exit, handle_errors
from runner.console import console


@click.command()
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="Folder with runner_project.yml")
@click.option("-s", "--select", "select", multiple=True,
              help="Models to lint, by name (default: every model and macro file)")
@click.option("--fix", is_flag=True, help="Apply sqlfluff's fixes to the files, then lint again")
@click.option("--debug", is_flag=True, help="Show tracebacks")
@handle_errors
def lint(project_dir: Path, select: tuple[str, ...], fix: bool, debug: bool) -> None:
    """Lint models and macros with sqlfluff (Spark SQL, the rules in .sqlfluff).

    Prints `path:line:col: CODE message` per violation and a summary; exits 1 if any is left.
    """
    # sqlfluff takes 0.6 s of CPU to import: only `runner lint` pays it, not every command.
    from runner.lint import lint_project

    result = lint_project(project_dir, select=select, fix=fix)
    for violation in result.violations:
        console.print(escape(str(violation)))
    for path in result.fixed:
        console.print(f"Fixed {escape(path)}")
    console.print(escape(result.summary()))
    if not result.ok:
        raise Exit(1)
