"""`target/run_results.json` (dbt's artifact in a small stable form) and safe JSON writes.

Carries `metadata.schema_version`; fields are only ever added within a version.

run_results.json:
  {metadata: {schema_version, runner_version, target}, args: {command, select, exclude, vars,
   full_refresh, fail_fast, store_failures, indirect_selection, target, ...}, started_at,
   finished_at, elapsed_time, success, interrupted, signal (SIGINT | SIGTERM | null), errors
   (failures outside any node, e.g. a service that died), phases: {name: seconds},
   results: [result]}
  One result per node the command planned, in run order:
  {unique_id, resource_type, status, message, execution_time, rows_affected, materialized,
   timing, failures, reused}
  status of a model: success | error | skipped; of a test: pass | fail (failing rows, severity
  error) | warn (failing rows, severity warn) | error (the test could not run) | skipped; of a
  unit test (resource_type unit_test): pass | fail (rows differ; failures: how many) | error.
  failures: the failing-row count of a test that ran, else null. A skipped node's message says
  why: "upstream <model> failed", "test <name> failed", "model <name> failed",
  "skipped after the first error (--fail-fast)", "interrupted" (SIGINT; the step that was
  running says "interrupted (SIGINT) while running"). `runner retry` re-runs the nodes whose
  status is error, fail or skipped.
  reused: true when the node did not run because nothing it depends on changed since its last
  good result (`target/reuse_record.json`): status, rows_affected and failures are that result's
  (success, pass or warn; a failure is never reused), message starts "reused (unchanged)",
  execution_time is 0.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import __version__
from runner.errors import ConfigError
from runner.paths import TargetLayout, ensure_private_dir
from runner.results import NodeResult, NodeStatus, ResourceType, RunResult

if TYPE_CHECKING:
    from runner.config import RunConfig

RUN_RESULTS_SCHEMA = "runner/run-results/v1"


def write_run_results(target_dir: Path, cfg: RunConfig, run: RunResult) -> Path:
    """Write `<target>/run_results.json`; returns its path."""
    ensure_private_dir(target_dir)  # marts and artifacts: the owner's only
    path = TargetLayout(target_dir).run_results
    write_json(path, run_results(cfg, run))
    return path


def run_results(cfg: RunConfig, run: RunResult) -> dict[str, Any]:
    return {
        "metadata": {"schema_version": RUN_RESULTS_SCHEMA, "runner_version": __version__,
                     "target": run.target},
        "args": {"command": cfg.command, "select": list(cfg.select), "exclude": list(cfg.exclude),
                 "vars": cfg.vars, "full_refresh": cfg.full_refresh, "fail_fast": cfg.fail_fast,
                 "store_failures": cfg.store_failures,
                 "indirect_selection": cfg.indirect_selection, "target": cfg.target_name,
                 **cfg.args},
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "elapsed_time": (run.finished_at - run.started_at).total_seconds(),
        "success": run.success,
        "interrupted": run.interrupted,
        "signal": run.signal or None,
        "errors": list(run.errors),
        "phases": run.phases,
        "results": [
            {"unique_id": r.unique_id, "resource_type": r.resource_type,
             "status": result_status(r), "message": r.message,
             "execution_time": round(r.seconds, 3), "rows_affected": r.rows,
             "materialized": r.materialized, "timing": r.timing, "failures": r.failures,
             "reused": r.reused}
            for r in run.results
        ],
    }


def result_status(result: NodeResult) -> str:
    """The run_results status: a model's as is; a (unit) test's as pass / fail / warn / error /
    skipped."""
    if result.resource_type == ResourceType.MODEL:
        return result.status.value
    if result.status == NodeStatus.SUCCESS:
        return "pass"
    if result.status == NodeStatus.ERROR and result.failures:
        return "fail"
    return result.status.value


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically: a temporary file of this process, then a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path} not found", hint="run a build first, or point --state at a saved target/"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc

