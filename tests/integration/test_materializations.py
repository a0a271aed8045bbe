"""Table materialization on real Spark: staged then swapped, never replaced by nothing."""

from __future__ import annotations

from tests.integration.conftest import read_mart


def test_empty_result_keeps_previous_table(make_project, run_runner):
    project = make_project({"models/t.sql": "{{ config(materialized='table') }}\n"
                                            "select id from range(3)"})
    assert run_runner(["run"], project_dir=project).exit_code == 0
    assert sorted(read_mart(project, "t")["id"]) == [0, 1, 2]

    (project / "models/t.sql").write_text("{{ config(materialized='table') }}\n"
                                          "select id from range(3) where id > 5")
    result = run_runner(["run"], project_dir=project)
    assert result.exit_code == 1
    assert "model t produced no rows; its previous content is kept" in result.output
    assert sorted(read_mart(project, "t")["id"]) == [0, 1, 2]
    assert not [p for p in (project / "target/marts").iterdir() if p.name.startswith(".")]

    (project / "models/t.sql").write_text("{{ config(materialized='table', allow_empty=true) }}\n"
                                          "select id from range(3) where id > 5")
    assert run_runner(["run"], project_dir=project).exit_code == 0
    assert len(read_mart(project, "t")) == 0


def test_staged_folders_of_a_killed_build_are_removed(make_project, run_runner):
    project = make_project({
        "models/t.sql": "{{ config(materialized='table') }}\nselect id from {{ ref('p') }}",
        "models/p.sql": "{{ config(persist=true) }}\nselect id from range(3)",
    })
    stale = [project / "target/marts/.t.staged-0badf00d", project / "target/persisted/.p.staged-1"]
    for folder in stale:
        folder.mkdir(parents=True)
        (folder / "part-00000.parquet").write_bytes(b"left by a killed build")
    result = run_runner(["run"], project_dir=project)
    assert result.exit_code == 0, result.output
    assert not any(folder.exists() for folder in stale)
    assert sorted(read_mart(project, "t")["id"]) == [0, 1, 2]


def test_runtime_spark_error_names_model_and_keeps_others(make_project, run_runner):
    project = make_project({
        "models/good.sql": "{{ config(materialized='table') }}\nselect 1 as x",
        "models/bad.sql": "{{ config(materialized='table') }}\nselect\n  nope\nfrom {{ ref('good') }}",
        "models/after_bad.sql": "{{ config(materialized='table') }}\nselect * from {{ ref('bad') }}",
    })
    result = run_runner(["run"], project_dir=project)
    assert result.exit_code == 1
    assert "models/bad.sql:3:" in result.output
    assert "OK=1" in result.output and "ERROR=1" in result.output and "SKIP=1" in result.output
    assert list(read_mart(project, "good")["x"]) == [1]
    assert "Traceback" not in result.output


def test_unreachable_superset_keeps_marts_and_exits_3(make_project, run_runner, monkeypatch):
    import shutil

    from tests.conftest import ROOT

    project = make_project({
        "models/t.sql": "{{ config(materialized='table') }}\nselect 1 as x",
        "dashboards/datasets.yml": "datasets:\n  - {name: t, mart: t, columns: [x],\n"
                                   "     metrics: [{name: n, expression: count(1)}]}\n",
        "dashboards/onboarding.yml": "title: T\nslug: t\ncharts:\n"
                                     "  n: {title: N, type: big_number, dataset: t, metric: n}\n"
                                     "layout:\n  - {section: T, rows: [[n]]}\n",
    })
    shutil.copy(ROOT / "dashboards" / "database.yml", project / "dashboards" / "database.yml")
    (project / "profiles.yml").write_text(
        "t:\n  target: remote\n  outputs:\n    remote:\n      spark: {master: 'local[2]'}\n"
        "      superset: {url: 'http://127.0.0.1:1'}\n"
    )
    monkeypatch.setenv("RUNNER_SUPERSET_PASSWORD", "not-used")
    result = run_runner(["build"], project_dir=project)
    assert result.exit_code == 3, result.output
    assert "cannot reach Superset at http://127.0.0.1:1" in result.output
    assert "The marts were written" in result.output
    assert list(read_mart(project, "t")["x"]) == [1]
