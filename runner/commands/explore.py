"""Looking at data and docs: show, diff, explain-user and the `docs` site."""

from __future__ import annotations

import difflib
import json
import time
from pathlib import Path
from typing import Any

import click

from runner.commands.options import common_options, handle_errors, run_config, selection_options
from runner.compile import compile_project
from runner.config import load_project_config
from runner.console import console, log
from runner.docs.serve import serve as serve_docs
from runner.docs.site import generate_site
from runner.errors import RunnerError
from runner.explore import diff, explain, preview
from runner.explore.tables import render_diffs, render_explanation, render_preview
from runner.paths import TargetLayout


@click.command()
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
    cfg = run_config("show", select=(model,) if model else (), **kwargs)
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


@click.command(name="diff")
@common_options
@selection_options
@click.option("--limit", "-n", default=20, show_default=True,
              help="Changed values listed per mart (0: all)")
@click.option("--output", type=click.Choice(["table", "json"]), default="table")
@handle_errors
def diff_(debug: bool, limit: int, output: str, **kwargs: Any) -> None:
    """Compare each selected mart's last build with the build before it (no Spark)."""
    cp = compile_project(run_config("diff", **kwargs), check_sql=False)
    diffs = diff.diff_project(cp, limit=limit)
    if output == "json":
        click.echo(json.dumps(diff.to_json(diffs), indent=2, ensure_ascii=False))
    else:
        console.print(render_diffs(diffs, limit))


@click.command(name="explain-user")
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
    cp = compile_project(run_config("explain-user", **kwargs), check_sql=False)
    result = explain.explain_user(cp, preview.open_session(cp), user_id, key=key, limit=limit)
    if output == "json":
        click.echo(json.dumps(explain.to_json(result), indent=2, ensure_ascii=False))
    else:
        console.print(render_explanation(result))


@click.group()
def docs() -> None:
    """The documentation site: models, columns, tests, charts and their lineage."""


@docs.command(name="generate")
@common_options
@handle_errors
def docs_generate(debug: bool, **kwargs: Any) -> None:
    """Write the site to <target>/docs/ (opens from the file system, no server needed)."""
    started = time.perf_counter()
    cp = compile_project(run_config("docs-generate", **kwargs))
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
    folder = TargetLayout(project_dir / load_project_config(project_dir).target_path).docs
    if not (folder / "index.html").is_file():
        raise RunnerError(f"no site in {folder}", hint="run `runner docs generate` first")
    log(f"Serving {folder} at http://127.0.0.1:{port}/ (Ctrl-C to stop)")
    serve_docs(folder, port)
