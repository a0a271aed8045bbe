"""What a failure does to a build on real Spark: skips, independent branches, retry, Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "quality"
RUNNER = Path(sys.executable).with_name("runner")


def _results(project: Path) -> dict[str, dict]:
    data = json.loads((project / "target" / "run_results.json").read_text())
    return {r["unique_id"]: r for r in data["results"]}


def _statuses(project: Path) -> dict[str, str]:
    return {uid: r["status"] for uid, r in _results(project).items()}


@pytest.fixture
def quality(tmp_path: Path) -> Path:
    """The quality fixture reading its raw files from `incoming/` (a copy of data/)."""
    project = tmp_path / "quality"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("target"))
    shutil.copytree(project / "data", project / "incoming")
    return project


def test_defect_skips_downstream_keeps_outputs_and_retry_finishes(quality, run_runner,
                                                                  mart_reader):
    vars_ = "--vars={raw_dir: incoming}"
    first = run_runner(["build", vars_], project_dir=quality)
    assert first.exit_code == 0, first.output
    before = {m: mart_reader(quality, m) for m in ("user_stats", "segment_stats", "event_kinds")}

    users = quality / "incoming" / "users.csv"
    good = users.read_text()
    users.write_text(good + "u2,1,treatment,5\n")  # the defect: user u2 twice
    broken = run_runner(["build", vars_], project_dir=quality)

    assert broken.exit_code == 1
    assert "Done. OK=14 WARN=0 ERROR=1 SKIP=5 TOTAL=20" in broken.output
    results = _results(quality)
    failed = results["test.unique_stg_users_user_id"]
    assert (failed["status"], failed["failures"]) == ("fail", 1)
    assert "u2" in failed["message"]
    reason = "test unique_stg_users_user_id failed"
    skipped = {
        "model.user_stats", "model.segment_stats", "test.assert_every_user_counted",
        "test.expression_user_stats__payment_rate_between_0_and_1",
        "test.expression_user_stats_n_events__gte_1",
    }
    assert {uid: r["message"] for uid, r in results.items() if r["status"] == "skipped"} == {
        uid: reason for uid in skipped
    }
    ok = {uid for uid, r in results.items() if r["status"] in ("success", "pass")}
    assert ok == set(results) - skipped - {"test.unique_stg_users_user_id"}
    assert "model.event_kinds" in ok  # the independent branch finished
    assert "SKIP table model user_stats (test unique_stg_users_user_id failed)" in broken.output
    # the skipped marts keep the content of the last good build
    for name, frame in before.items():
        pd.testing.assert_frame_equal(mart_reader(quality, name), frame)

    # fix the data (and add a user, to see the retry reads the recorded --vars)
    users.write_text(good + "u5,2,control,3\n")
    retried = run_runner(["retry"], project_dir=quality)
    assert retried.exit_code == 0, retried.output
    assert "Retrying the last `runner build`: stg_users, unique_stg_users_user_id, user_stats" \
        in retried.output
    data = json.loads((quality / "target" / "run_results.json").read_text())
    assert data["args"]["vars"] == {"raw_dir": "incoming"}
    assert data["args"]["retry"] is True
    assert set(_statuses(quality).values()) == {"success", "pass"}
    assert "model.stg_events" not in _statuses(quality)  # only what failed or was skipped
    assert {"model.user_stats", "model.segment_stats", "test.assert_every_user_counted"} <= set(
        _statuses(quality))
    assert sorted(mart_reader(quality, "user_stats")["user_id"]) == ["u1", "u2", "u3", "u4", "u5"]
    assert mart_reader(quality, "segment_stats")["users"].sum() == 5
    nothing = run_runner(["retry"], project_dir=quality)
    assert nothing.exit_code == 0
    assert "Nothing to retry" in nothing.output


BRANCHES = {
    # a -> b (fails) -> c ; a -> d ; e alone
    "models/a.sql": "{{ config(materialized='table') }} select 1 as id",
    "models/b.sql": "select no_such_column from {{ ref('a') }}",
    "models/c.sql": "{{ config(materialized='table') }} select * from {{ ref('b') }}",
    "models/d.sql": "{{ config(materialized='table') }} select id + 1 as id from {{ ref('a') }}",
    "models/e.sql": "{{ config(materialized='table') }} select 2 as id",
}


def test_failing_model_stops_only_its_descendants(make_project, run_runner, mart_reader):
    project = make_project(BRANCHES)
    result = run_runner(["run"], project_dir=project)
    assert result.exit_code == 1
    assert "ERROR creating view model b" in result.output
    assert "SKIP table model c (upstream b failed)" in result.output
    assert "Done. OK=3 WARN=0 ERROR=1 SKIP=1 TOTAL=5" in result.output
    assert _statuses(project) == {"model.a": "success", "model.e": "success",
                                  "model.b": "error", "model.d": "success",
                                  "model.c": "skipped"}
    assert "no_such_column" in _results(project)["model.b"]["message"]
    assert mart_reader(project, "d")["id"].tolist() == [2]
    assert not (project / "target" / "marts" / "c").exists()


def test_fail_fast_stops_at_the_first_error(make_project, run_runner):
    project = make_project(BRANCHES)
    result = run_runner(["run", "--fail-fast"], project_dir=project)
    assert result.exit_code == 1
    # graph order: a, e, b, d, c
    assert _statuses(project) == {"model.a": "success", "model.e": "success",
                                  "model.b": "error", "model.d": "skipped",
                                  "model.c": "skipped"}
    assert _results(project)["model.d"]["message"] == "skipped after the first error (--fail-fast)"


def test_a_warn_test_does_not_block(make_project, run_runner):
    project = make_project({
        "models/a.sql": "select 1 as id union all select 1",
        "models/b.sql": "{{ config(materialized='table') }} select * from {{ ref('a') }}",
        "models/schema.yml": (
            "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n"
            "        tests:\n          - unique: {config: {severity: warn}}\n"
        ),
    })
    result = run_runner(["build"], project_dir=project)
    assert result.exit_code == 0, result.output
    assert "WARN 1 unique_a_id" in result.output
    assert "Done. OK=2 WARN=1 ERROR=0 SKIP=0 TOTAL=3" in result.output
    assert _statuses(project) == {"model.a": "success", "test.unique_a_id": "warn",
                                  "model.b": "success"}


def _slow_project(root: Path) -> Path:
    """m1 -> m2 -> m3 -> m4, each a Parquet table; `n` sets how long each takes."""
    root.mkdir()
    (root / "runner_project.yml").write_text(
        "name: slow\nprofile: slow\nvars: {version: 1, n: 10}\nmodels: {materialized: table}\n")
    (root / "profiles.yml").write_text(
        "slow:\n  target: local\n  outputs:\n    local:\n      spark:\n        master: local[2]\n"
        "        conf: {spark.sql.shuffle.partitions: '2'}\n")
    (root / "models").mkdir()
    for i in range(1, 5):
        upstream = ""
        if i > 1:
            upstream = f" cross join (select count(*) as c from {{{{ ref('m{i - 1}') }}}})"
        (root / "models" / f"m{i}.sql").write_text(
            "select {{ var('version') }} as version, s.h from (select sum(hash(a.id, b.id)) as h "
            "from range(0, {{ var('n') }}) a cross join range(0, {{ var('n') }}) b) as s"
            + upstream
        )
    return root


@pytest.mark.parametrize(("sig", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_build_leaves_every_mart_old_or_new(tmp_path, run_runner, mart_reader, sig,
                                                       exit_code):
    """Ctrl-C, or a scheduler's SIGTERM, stops the build cleanly: run_results written, marts
    old or new, no staged folder left."""
    project = _slow_project(tmp_path / "slow")
    assert run_runner(["run"], project_dir=project).exit_code == 0  # every mart at version 1
    marts = ["m1", "m2", "m3", "m4"]
    assert all(mart_reader(project, m)["version"].tolist() == [1] for m in marts)

    proc = subprocess.Popen(
        [str(RUNNER), "build", "--project-dir", str(project), "--vars", "{version: 2, n: 25000}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = []
    assert proc.stdout is not None
    for line in proc.stdout:
        output.append(line)
        if "START table model m2" in line:
            time.sleep(1.0)
            os.killpg(proc.pid, sig)  # as Ctrl-C (or a scheduler) does: the whole group
            break
    output += proc.stdout.readlines()
    code = proc.wait(timeout=120)
    text = "".join(output)

    assert code == exit_code, text
    assert "Traceback" not in text
    name = signal.Signals(sig).name
    data = json.loads((project / "target" / "run_results.json").read_text())
    assert data["interrupted"] is True and data["success"] is False
    assert data["signal"] == name
    statuses = [(r["unique_id"], r["status"], r["message"]) for r in data["results"]]
    assert statuses[0][:2] == ("model.m1", "success")
    assert statuses[1] == ("model.m2", "skipped", f"interrupted ({name}) while running")
    assert statuses[2:] == [("model.m3", "skipped", f"interrupted ({name})"),
                            ("model.m4", "skipped", f"interrupted ({name})")]
    # every mart folder reads back, with its old or its new content, and nothing half-written
    assert mart_reader(project, "m1")["version"].tolist() == [2]
    for name in marts[1:]:
        assert mart_reader(project, name)["version"].tolist() == [1]
    assert sorted(p.name for p in (project / "target" / "marts").iterdir()) == marts


def test_a_second_build_on_the_same_project_fails_at_once_naming_the_first(tmp_path, run_runner):
    project = _slow_project(tmp_path / "slow")
    proc = subprocess.Popen(
        [str(RUNNER), "run", "--project-dir", str(project), "--vars", "{version: 2, n: 25000}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if "START table model" in line:
                break
        second = subprocess.run(
            [str(RUNNER), "build", "--project-dir", str(project)],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
    assert second.returncode == 1
    assert f"Error: another runner (pid {proc.pid}) is building this project" in second.stderr
    assert "Traceback" not in second.stderr + second.stdout
