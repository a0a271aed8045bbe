"""runner.reuse without Spark: fingerprints and the input plan of a selection build."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.compile import compile_project
from runner.config import RunConfig
from runner.reuse import (
    InputKind,
    file_fingerprint,
    fingerprint_tests,
    model_fingerprints,
    plan_inputs,
    stored_rows_current,
)
from runner.spark.fingerprint_file import FINGERPRINT_FILE, fingerprint_text, stored_fingerprint

FILES = {
    "models/sources.yml": (
        "version: 2\nsources:\n  - name: raw\n    path: data\n    tables:\n"
        "      - {name: a, file: a.csv, columns: [{name: i}, {name: x}]}\n"
        "      - {name: b, file: b.csv, columns: [{name: i}, {name: y}]}\n"
    ),
    "models/stg_a.sql": "select x from {{ source('raw', 'a') }}",
    "models/stg_b.sql": "select y from {{ source('raw', 'b') }}",
    "models/int_ab.sql": (
        "{{ config(persist=true) }}\nselect x, y from {{ ref('stg_a') }}, {{ ref('stg_b') }}"
    ),
    "models/mart.sql": "{{ config(materialized='table') }}\nselect * from {{ ref('int_ab') }}",
    "models/other.sql": (
        "{{ config(materialized='table') }}\n"
        "select x from {{ ref('stg_a') }} where x > {{ var('v') }}"
    ),
    "data/a.csv": ",x\n0,1\n",
    "data/b.csv": ",y\n0,2\n",
}


@pytest.fixture
def project(make_project) -> Path:
    return make_project(FILES, vars_="  v: 0")


def _store(project: Path, name: str, fingerprint: str) -> None:
    folder = project / "target" / "persisted" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_SUCCESS").write_text("")
    (folder / FINGERPRINT_FILE).write_text(fingerprint_text(fingerprint))


def test_file_fingerprint_sees_size_time_and_edges(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a" * 200_000)
    first = file_fingerprint(path)
    stat = path.stat()
    path.write_bytes(b"a" * 199_999 + b"b")  # last byte, same size, same mtime below
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_fingerprint(path) != first
    assert file_fingerprint(tmp_path / "missing.csv")["missing"] is True


def test_fingerprints_follow_sql_vars_and_inputs(project: Path) -> None:
    cp = compile_project(RunConfig(project_dir=project))
    base = model_fingerprints(cp)
    assert model_fingerprints(cp) == base  # stable
    (project / "data/b.csv").write_text(",y\n0,3\n")
    changed = model_fingerprints(cp)
    assert changed["stg_a"] == base["stg_a"]
    assert changed["stg_b"] != base["stg_b"]
    assert changed["int_ab"] != base["int_ab"] and changed["mart"] != base["mart"]  # downstream
    with_var = model_fingerprints(compile_project(RunConfig(project_dir=project, vars={"v": 1})))
    assert with_var["other"] != changed["other"]
    # only the models that read the var (and their downstream) change
    assert {n for n in with_var if with_var[n] != changed[n]} == {"other"}


def test_a_model_records_the_vars_its_rendering_read(project: Path) -> None:
    cp = compile_project(RunConfig(project_dir=project))
    assert cp.models["other"].vars == ("v",)
    assert cp.models["stg_a"].vars == ()


def test_test_fingerprints_follow_their_models_sql_and_config(project: Path) -> None:
    (project / "models/schema.yml").write_text(
        "version: 2\nmodels:\n  - name: mart\n    columns:\n      - name: x\n"
        "        tests: [not_null]\n"
    )
    cp = compile_project(RunConfig(project_dir=project))
    models = model_fingerprints(cp)
    base = fingerprint_tests(cp, models)
    assert set(base) == {"test.not_null_mart_x"}
    assert fingerprint_tests(cp, models) == base
    moved = fingerprint_tests(cp, {**models, "mart": "other"})
    assert moved != base  # its model changed
    (project / "models/schema.yml").write_text(
        "version: 2\nmodels:\n  - name: mart\n    columns:\n      - name: x\n"
        "        tests: [{not_null: {config: {severity: warn}}}]\n"
    )
    warned = compile_project(RunConfig(project_dir=project))
    assert fingerprint_tests(warned, model_fingerprints(warned)) != base  # severity


def test_stored_rows_current(project: Path) -> None:
    cp = compile_project(RunConfig(project_dir=project))
    prints = model_fingerprints(cp)
    assert stored_rows_current(cp, "stg_a", prints["stg_a"])  # a view keeps no rows
    assert not stored_rows_current(cp, "int_ab", prints["int_ab"])
    _store(project, "int_ab", prints["int_ab"])
    assert stored_rows_current(cp, "int_ab", prints["int_ab"])
    marts = project / "target" / "marts" / "mart"
    marts.mkdir(parents=True)
    (marts / "_SUCCESS").write_text("")
    assert not stored_rows_current(cp, "mart", prints["mart"])  # a copy without fingerprint
    (marts / FINGERPRINT_FILE).write_text(fingerprint_text(prints["mart"]))
    assert stored_rows_current(cp, "mart", prints["mart"])
    (project / "target" / "marts" / ".mart.cassandra-dirty").write_text("")
    assert not stored_rows_current(cp, "mart", prints["mart"])  # its write did not finish


def test_plan_stops_at_a_reusable_persisted_model(project: Path) -> None:
    cp = compile_project(RunConfig(project_dir=project, select=("mart",)))
    fps = model_fingerprints(cp)
    _store(project, "int_ab", fps["int_ab"])
    plan = plan_inputs(cp, ["mart"], fingerprints=fps)
    assert plan.models == (("int_ab", InputKind.REUSED),)
    assert plan.sources == frozenset()  # no raw file is read


def test_plan_recomputes_a_stale_persisted_model(project: Path) -> None:
    cp = compile_project(RunConfig(project_dir=project, select=("mart",)))
    fps = model_fingerprints(cp)
    _store(project, "int_ab", "an older fingerprint")
    plan = plan_inputs(cp, ["mart"], fingerprints=fps)
    assert dict(plan.models) == {"stg_a": InputKind.VIEW, "stg_b": InputKind.VIEW,
                                 "int_ab": InputKind.PERSIST}
    assert plan.sources == {("raw", "a"), ("raw", "b")}
    assert plan.names(InputKind.VIEW) == ["stg_a", "stg_b"]  # graph order


def test_plan_without_reuse(project: Path) -> None:
    cp = compile_project(RunConfig(project_dir=project, select=("mart",)))
    fps = model_fingerprints(cp)
    _store(project, "int_ab", fps["int_ab"])
    full_refresh = plan_inputs(cp, ["mart"], fingerprints=fps, reuse=False)
    assert dict(full_refresh.models)["int_ab"] == InputKind.PERSIST
    show = plan_inputs(cp, ["mart"])  # runner show: reads, never writes
    assert dict(show.models)["int_ab"] == InputKind.VIEW


def test_plan_reads_built_tables_from_parquet(project: Path) -> None:
    cp = compile_project(RunConfig(project_dir=project))
    plan = plan_inputs(cp, [], ["mart", "other"], has_parquet={"mart": True, "other": False})
    kinds = dict(plan.models)
    assert kinds["mart"] == InputKind.PARQUET
    assert kinds["other"] == InputKind.VIEW and kinds["stg_a"] == InputKind.VIEW
    assert "int_ab" not in kinds  # only mart reads it, and mart is not recomputed


def test_stored_fingerprint_needs_a_complete_folder(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / FINGERPRINT_FILE).write_text(fingerprint_text("abc"))
    assert stored_fingerprint(folder) is None  # no _SUCCESS: a write that did not finish
    (folder / "_SUCCESS").write_text("")
    assert stored_fingerprint(folder) == "abc"
    (folder / FINGERPRINT_FILE).write_text("not json")
    assert stored_fingerprint(folder) is None
