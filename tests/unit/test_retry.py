"""`runner retry` without Spark: what it re-runs and with which arguments."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.retry import nodes_to_retry, retry_config

MANIFEST = {"nodes": {"test.unique_a_id": {"attached_node": "model.a"},
                      "test.assert_x": {"attached_node": None}}}


def _results(command: str, *pairs: tuple[str, str]) -> dict:
    return {"args": {"command": command},
            "results": [{"unique_id": u, "status": s} for u, s in pairs]}


@pytest.mark.parametrize(
    "run, expected",
    [
        (_results("build", ("model.a", "success"), ("model.b", "success")), []),
        # an errored model and what it skipped, in run order
        (_results("run", ("model.a", "success"), ("model.b", "error"), ("model.c", "skipped")),
         ["b", "c"]),
        # a failed test brings its model (a data fix reaches the test through it)
        (_results("build", ("model.a", "success"), ("test.unique_a_id", "fail"),
                  ("model.b", "skipped")), ["a", "unique_a_id", "b"]),
        # ... but `runner test` builds nothing
        (_results("test", ("test.unique_a_id", "fail")), ["unique_a_id"]),
        # a singular test has no model of its own; a warning is not retried
        (_results("build", ("test.assert_x", "error"), ("test.w", "warn")), ["assert_x"]),
    ],
)
def test_nodes_to_retry(run, expected):
    assert nodes_to_retry(run, MANIFEST) == expected


def _write_last_run(project, command="build", **args):
    target = project / "target"
    target.mkdir(exist_ok=True)
    run = _results(command, ("model.a", "success"), ("test.unique_a_id", "fail"))
    run["args"].update(args)
    (target / "run_results.json").write_text(json.dumps(run))
    (target / "manifest.json").write_text(json.dumps(MANIFEST))


def test_retry_config_repeats_the_recorded_arguments(make_project):
    project = make_project({"models/a.sql": "select 1 as id"})
    _write_last_run(project, vars={"raw_dir": "x"}, target="prod", fail_fast=True,
                    store_failures=True, full_refresh=True)
    cfg = retry_config(project)
    assert cfg is not None
    assert (cfg.command, cfg.select, cfg.vars, cfg.target_name) == (
        "build", ("a", "unique_a_id"), {"raw_dir": "x"}, "prod")
    assert cfg.fail_fast and cfg.store_failures and cfg.full_refresh
    assert cfg.args == {"retry": True}


def test_retry_without_a_previous_run(make_project):
    project = make_project({"models/a.sql": "select 1 as id"})
    result = CliRunner().invoke(main, ["retry", "--project-dir", str(project)])
    assert result.exit_code == 1
    assert f"Error: {project}/target/run_results.json not found" in result.output
    assert "hint: run a build first" in result.output


def test_ls_lists_tests(make_project):
    project = make_project({
        "models/a.sql": "select 1 as id",
        "models/schema.yml": "version: 2\nmodels:\n  - name: a\n    columns:\n"
                             "      - name: id\n        tests: [unique, not_null]\n",
    })
    result = CliRunner().invoke(main, ["ls", "--resource-type", "all", "--project-dir",
                                       str(project)])
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["not_null_a_id", "unique_a_id", "a"]
