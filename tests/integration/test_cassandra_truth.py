"""A rebuild that sends only changed rows checks Cassandra first: whatever changed the table
behind target/'s back, the next plain build leaves Cassandra exactly as the Parquet mart.

Each test runs the tiny project of `cassandra_fixtures.mart_project` in-process against the
shared test node, changes the table the way a user or another process could, and asserts that
the next `runner build` restores every row of both marts.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from runner.cassandra.client import connect, quote
from runner.config import CassandraTarget
from tests.integration.cassandra_fixtures import cassandra_rows, mart_project, parquet_rows

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
MARTS = ("m", "after_m")


def _build(run_runner, project: Path, *args: str) -> str:
    result = run_runner(["build", *args], project_dir=project)
    assert result.exit_code == 0, result.output
    return result.output


def _assert_restored(target: CassandraTarget, project: Path) -> None:
    for mart in MARTS:
        assert cassandra_rows(target, mart) == parquet_rows(project, mart), mart


def _cql(target: CassandraTarget, *statements: str) -> None:
    session = connect(target)
    try:
        for cql in statements:
            session.execute(cql, timeout=60)
    finally:
        session.cluster.shutdown()


def _table(target: CassandraTarget, name: str = "m") -> str:
    return f"{quote(target.keyspace)}.{name}"


def test_unchanged_table_is_trusted(cassandra_target, run_runner, tmp_path):
    project = mart_project(tmp_path, cassandra_target)
    _build(run_runner, project)
    model = project / "models" / "m.sql"
    model.write_text(model.read_text() + "-- same rows, another fingerprint\n")
    output = _build(run_runner, project)
    assert "(2000 rows, 0 changed)" in output and "all sent" not in output
    _assert_restored(cassandra_target, project)


def test_noop_build_writes_nothing(cassandra_target, run_runner, tmp_path):
    """Nothing changed and the tables hold their copies: reused, no marker or build_info row
    written, no Spark job."""
    project = mart_project(tmp_path, cassandra_target)
    _build(run_runner, project)
    markers = {mart: _marker(cassandra_target, mart) for mart in MARTS}
    output = _build(run_runner, project)
    assert "Nothing changed since the last build: reusing 2 of 2 models, 1 of 1 tests" in output
    assert "REUSED cassandra model m (2000 rows)" in output
    assert "REUSED cassandra model after_m" in output
    assert {mart: _marker(cassandra_target, mart) for mart in MARTS} == markers
    session = connect(cassandra_target)
    try:
        builds = session.execute(f"SELECT count(*) FROM {_table(cassandra_target, 'build_info')}")
        assert builds.one()[0] == 1  # the first build's only
    finally:
        session.cluster.shutdown()
    _assert_restored(cassandra_target, project)


@pytest.mark.parametrize("change", ["TRUNCATE {}", "DROP TABLE {}"])
def test_reuse_checks_the_table(cassandra_target, run_runner, tmp_path, change):
    """A table emptied or dropped behind the build's back is written again, and what reads it."""
    project = mart_project(tmp_path, cassandra_target)
    _build(run_runner, project)
    _cql(cassandra_target, change.format(_table(cassandra_target)))
    output = _build(run_runner, project)
    ks = cassandra_target.keyspace
    assert f"Writing m again: {ks}.m does not hold its Parquet copy" in output
    assert "REUSED cassandra model m" not in output
    assert "REUSED cassandra model after_m" not in output  # downstream of a written mart
    _assert_restored(cassandra_target, project)


def test_truncate(cassandra_target, run_runner, tmp_path):
    project = mart_project(tmp_path, cassandra_target)
    _build(run_runner, project)
    _cql(cassandra_target, f"TRUNCATE {_table(cassandra_target)}")
    output = _build(run_runner, project)
    assert "all sent: it holds 0 rows, target/ says 2000" in output
    _assert_restored(cassandra_target, project)


def test_table_ttl(cassandra_target, run_runner, tmp_path):
    """Rows written while the table had a 1 s TTL expire; once it is removed, a build restores."""
    project = mart_project(tmp_path, cassandra_target)
    _build(run_runner, project)
    _cql(cassandra_target, f"ALTER TABLE {_table(cassandra_target)} WITH default_time_to_live = 1")
    _build(run_runner, project, "--vars", "{v: 2}")  # every row changes: written with the TTL
    time.sleep(3)
    assert not cassandra_rows(cassandra_target, "m")
    _cql(cassandra_target, f"ALTER TABLE {_table(cassandra_target)} WITH default_time_to_live = 0")
    output = _build(run_runner, project, "--vars", "{v: 2}")
    assert "all sent: it holds 0 rows" in output
    _assert_restored(cassandra_target, project)


def test_restored_target_dir(cassandra_target, run_runner, tmp_path):
    """An older target/ copied back says v=1 while Cassandra holds v=2."""
    project = mart_project(tmp_path / "p", cassandra_target)
    _build(run_runner, project)
    shutil.copytree(project / "target", tmp_path / "saved")
    _build(run_runner, project, "--vars", "{v: 2}")
    shutil.rmtree(project / "target")
    shutil.copytree(tmp_path / "saved", project / "target")
    output = _build(run_runner, project)
    assert "all sent: another build wrote it last" in output
    _assert_restored(cassandra_target, project)


def test_foreign_writer(cassandra_target, run_runner, tmp_path):
    """Another checkout writes the same keyspace; this one's next build restores its rows."""
    mine = mart_project(tmp_path / "mine", cassandra_target)
    other = mart_project(tmp_path / "other", cassandra_target)
    _build(run_runner, mine)
    _build(run_runner, other, "--vars", "{v: 3, shift: 500}")
    output = _build(run_runner, mine)
    assert "all sent: another build wrote it last" in output
    assert str((other / "target" / "marts").resolve()) in output
    _assert_restored(cassandra_target, mine)


def test_target_switch(cassandra_target, run_runner, tmp_path):
    """`dev` and `docker` name the same host, port and keyspace; switching from one to the other
    swaps the Cassandra that answers there. The swap is played on one node: the table and its
    marker are put back as the `docker` Cassandra held them before the `dev` build."""
    project = mart_project(tmp_path, cassandra_target, targets=("dev", "docker"))
    _build(run_runner, project, "--target", "docker")
    docker_rows = cassandra_rows(cassandra_target, "m")
    docker_marker = _marker(cassandra_target, "m")
    _build(run_runner, project, "--target", "dev", "--vars", "{v: 2}")
    # switch: the docker node still holds its v=1 rows and its own marker
    _cql(cassandra_target, f"TRUNCATE {_table(cassandra_target)}")
    session = connect(cassandra_target)
    try:
        insert = session.prepare(f"INSERT INTO {_table(cassandra_target)} (k, val, pad) "
                                 "VALUES (?, ?, ?)")
        for row in docker_rows:
            session.execute(insert, row)
        session.execute(
            f"INSERT INTO {_table(cassandra_target, 'runner_state')} (table_name, build_id, rows, "
            "written_at, writer) VALUES (%s, %s, %s, %s, %s)", docker_marker,
        )
    finally:
        session.cluster.shutdown()
    output = _build(run_runner, project, "--target", "docker", "--vars", "{v: 2}")
    assert "all sent: another build wrote it last" in output
    _assert_restored(cassandra_target, project)


def _marker(target: CassandraTarget, table: str) -> tuple:
    session = connect(target)
    try:
        row = session.execute(
            "SELECT table_name, build_id, rows, written_at, writer FROM "
            f"{_table(target, 'runner_state')} WHERE table_name = %s", (table,),
        ).one()
        return tuple(row)
    finally:
        session.cluster.shutdown()
