"""`runner superset`: the dashboards defined in dashboards/."""

from __future__ import annotations

from typing import Any

import click

from runner.commands.options import Exit, common_options, handle_errors, run_config, sync_superset
from runner.compile import compile_project
from runner.console import set_secrets
from runner.errors import RunnerError


@click.group()
def superset() -> None:
    """Superset dashboards defined in dashboards/."""


@superset.command(name="sync")
@common_options
@handle_errors
def superset_sync(debug: bool, **kwargs: Any) -> None:
    """Apply dashboards/ to Superset through its REST API (idempotent)."""
    cp = compile_project(run_config("superset-sync", **kwargs), check_sql=False)
    set_secrets(cp.target.secrets())
    if cp.target.superset is None:
        raise RunnerError(f"target '{cp.target.name}' has no superset: section",
                          hint="add superset: to the target in profiles.yml")
    if not sync_superset(cp):
        raise Exit(3)
