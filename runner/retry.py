"""`runner retry`: re-run what errored or was skipped in the last run, with its arguments.

The last run is `target/run_results.json` (with the `manifest.json` written beside it). The nodes
to re-run are selected by name, so each model brings its tests along; a failed test also brings
the model it tests, because a fix of the data only reaches the test through that model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.artifacts import load_json
from runner.config import RunConfig, load_project_config
from runner.errors import ConfigError
from runner.paths import TargetLayout

RETRY_STATUSES = ("error", "fail", "skipped")


def nodes_to_retry(run_results: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    """Names of the nodes to re-run, in the order the last run planned them.

    Example:
        >>> results = {"args": {"command": "build"}, "results": [
        ...     {"unique_id": "model.a", "status": "success"},
        ...     {"unique_id": "test.unique_a_id", "status": "fail"},
        ...     {"unique_id": "model.b", "status": "skipped"}]}
        >>> manifest = {"nodes": {"test.unique_a_id": {"attached_node": "model.a"}}}
        >>> nodes_to_retry(results, manifest)
        ['a', 'unique_a_id', 'b']
    """
    command = run_results.get("args", {}).get("command", "build")
    nodes = manifest.get("nodes", {})
    out: list[str] = []
    for result in run_results.get("results", []):
        if result.get("status") not in RETRY_STATUSES:
            continue
        uid = result["unique_id"]
        attached = (nodes.get(uid) or {}).get("attached_node")
        if uid.startswith("test.") and attached and command == "build":
            out.append(attached.split(".", 1)[1])
        out.append(uid.split(".", 1)[1])
    return list(dict.fromkeys(out))


def retry_config(project_dir: Path, profiles_dir: Path | None = None) -> RunConfig | None:
    """The RunConfig that re-runs the failed part of the last run; None when nothing failed."""
    target_dir = project_dir / load_project_config(project_dir).target_path
    previous = load_json(TargetLayout(target_dir).run_results)
    manifest = load_json(TargetLayout(target_dir).manifest)
    args = previous.get("args") or {}
    command = args.get("command")
    if command not in ("build", "run", "test"):
        raise ConfigError(
            f"the last run was `runner {command}`, which retry cannot repeat",
            location=None,
            hint="retry works after runner build, run or test",
        )
    names = nodes_to_retry(previous, manifest)
    if not names:
        return None
    return RunConfig(
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target_name=args.get("target"),
        vars=dict(args.get("vars") or {}),
        select=tuple(names),
        full_refresh=bool(args.get("full_refresh")),
        fail_fast=bool(args.get("fail_fast")),
        store_failures=bool(args.get("store_failures")),
        indirect_selection=str(args.get("indirect_selection") or "eager"),
        command=command,
        args={"retry": True},
    )
