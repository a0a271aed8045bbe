"""write_mart, connect and the local node against real Cassandra nodes and a real SparkSession."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pyspark.sql import types as T

from runner.cassandra.client import connect
from runner.cassandra.writes import PreviousCopy, write_mart
from runner.config import CASSANDRA_PASSWORD_ENV, CASSANDRA_USER_ENV, CassandraTarget, ModelConfig
from runner.errors import MaterializationError, ServiceError
from runner.local import cassandra_node as nodes

pytestmark = pytest.mark.slow

USERS = T.StructType(
    [
        T.StructField("user_id", T.StringType()),
        T.StructField("segment", T.IntegerType()),
        T.StructField("drop", T.IntegerType()),  # a CQL keyword as a column name
        T.StructField("users", T.LongType()),
        T.StructField("rate", T.DoubleType()),
        T.StructField("significant", T.BooleanType()),
        T.StructField("first_login_dt", T.DateType()),
        T.StructField("updated_at", T.TimestampType()),
        T.StructField("milestones", T.MapType(T.StringType(), T.DateType())),
        T.StructField("transaction_types", T.ArrayType(T.IntegerType())),
    ]
)
USERS_CONFIG = ModelConfig(materialized="cassandra", partition_key=["user_id"])
UTC = dt.UTC


def _user(user_id: str, n: int, **changes: Any) -> tuple[Any, ...]:
    row = {
        "user_id": user_id,
        "segment": n % 2 + 1,
        "drop": n % 2,
        "users": 10_000_000_000 + n,
        "rate": n / 7,
        "significant": n % 3 == 0,
        "first_login_dt": dt.date(2022, 1, 1) + dt.timedelta(days=n),
        "updated_at": dt.datetime(2022, 3, 4, 5, 6, 7, 123000, tzinfo=UTC) + dt.timedelta(hours=n),
        "milestones": {
            "registration": dt.date(2022, 1, 1),
            "activation": dt.date(2022, 1, 1) + dt.timedelta(days=n),
        },
        "transaction_types": [1, 3, 7][: n % 4],
    }
    row.update(changes)
    return tuple(row[f.name] for f in USERS.fields)


def _expected(row: tuple[Any, ...]) -> dict[str, Any]:
    """What the driver reads back: naive UTC timestamps; empty collections are NULL in CQL."""
    out = dict(zip(USERS.fieldNames(), row, strict=True))
    out["updated_at"] = out["updated_at"].astimezone(UTC).replace(tzinfo=None)
    out["milestones"] = out["milestones"] or None
    out["transaction_types"] = sorted(set(out["transaction_types"])) or None
    return out


def _plain(value: Any) -> Any:
    """Driver values as plain Python: Date → date, SortedSet → list, OrderedMap → dict."""
    if hasattr(value, "date") and type(value).__name__ == "Date":
        return value.date()
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if type(value).__name__ == "SortedSet":
        return sorted(value)
    return value


def _read(target: CassandraTarget, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    session = connect(target)
    try:
        meta = session.execute(
            "SELECT column_name, kind FROM system_schema.columns "
            "WHERE keyspace_name = %s AND table_name = %s",
            (target.keyspace, table),
        )
        keys = sorted(r.column_name for r in meta if r.kind != "regular")
        rows = session.execute(f'SELECT * FROM "{target.keyspace}"."{table}"')
        out = {}
        for row in rows:
            values = {k: _plain(v) for k, v in row._asdict().items()}
            out[tuple(values[k] for k in keys)] = values
        return out
    finally:
        session.cluster.shutdown()


def _write(
    spark: Any,
    rows: list[tuple[Any, ...]],
    target: CassandraTarget,
    *,
    schema: T.StructType = USERS,
    **kw: Any,
) -> int:
    df = spark.createDataFrame(rows, schema)
    options = {"table": "users", "config": USERS_CONFIG, "full_refresh": False, **kw}
    written = write_mart(df, target=target, model_path="models/marts/users.sql", **options)
    return written.rows


def test_write_reads_back_exactly(spark_cassandra, cassandra_target):
    rows = [_user(f"MLB{n}", n) for n in range(6)] + [
        _user("MLB99", 99, milestones={}, transaction_types=[], drop=None, rate=None)
    ]
    assert _write(spark_cassandra, rows, cassandra_target) == 7
    stored = _read(cassandra_target, "users")
    assert stored == {(r[0],): _expected(r) for r in rows}

    # the same result again: same rows, nothing deleted
    assert _write(spark_cassandra, rows, cassandra_target) == 7
    assert _read(cassandra_target, "users") == stored


def test_rebuild_deletes_only_missing_keys(spark_cassandra, cassandra_target):
    rows = [_user(f"MLB{n}", n) for n in range(10)]
    _write(spark_cassandra, rows, cassandra_target)
    kept = [r for r in rows if r[0] not in ("MLB3", "MLB7")]
    kept[0] = _user("MLB0", 0, segment=9)
    assert _write(spark_cassandra, kept, cassandra_target) == 8
    assert _read(cassandra_target, "users") == {(r[0],): _expected(r) for r in kept}


def test_rebuild_from_previous_copy_sends_only_changes(spark_cassandra, cassandra_target):
    """With the rows the table holds (the last build's copy), only new or changed rows are
    upserted and stale keys are found in the copy; the table ends exactly as the new result."""
    rows = [_user(f"MLB{n}", n) for n in range(10)]
    options = {"target": cassandra_target, "table": "users", "config": USERS_CONFIG,
               "full_refresh": False, "model_path": "models/marts/users.sql"}
    first = write_mart(spark_cassandra.createDataFrame(rows, USERS), **options)
    previous = PreviousCopy(spark_cassandra.createDataFrame(rows, USERS), first.stamp)
    new = [r for r in rows if r[0] != "MLB3"] + [_user("MLB42", 42)]
    new[0] = _user("MLB0", 0, segment=9, milestones={"registration": dt.date(2022, 1, 2)})
    written = write_mart(spark_cassandra.createDataFrame(new, USERS), previous=previous, **options)
    assert (written.rows, written.upserted, written.distrust) == (10, 2, None)  # MLB0, MLB42
    assert _read(cassandra_target, "users") == {(r[0],): _expected(r) for r in new}

    # nothing changed: nothing sent
    previous = PreviousCopy(spark_cassandra.createDataFrame(new, USERS), written.stamp)
    again = write_mart(spark_cassandra.createDataFrame(new, USERS), previous=previous, **options)
    assert (again.rows, again.upserted) == (10, 0)
    assert _read(cassandra_target, "users") == {(r[0],): _expected(r) for r in new}

    # a copy whose stamp is not the table's last write is not trusted: every row is sent
    again = write_mart(spark_cassandra.createDataFrame(new, USERS), previous=previous, **options)
    assert again.upserted is None and again.distrust is not None
    assert "another build wrote it last" in again.distrust


FUNNEL = T.StructType(
    [
        T.StructField("segment_name", T.StringType()),
        T.StructField("ab_group", T.StringType()),
        T.StructField("stage_order", T.IntegerType()),
        T.StructField("users", T.LongType()),
    ]
)
FUNNEL_CONFIG = ModelConfig(
    materialized="cassandra",
    partition_key=["segment_name", "ab_group"],
    clustering_key=["stage_order desc"],
)


def test_rebuild_with_clustering_deletes_partitions_and_rows(spark_cassandra, cassandra_target):
    rows = [
        (s, g, o, 100 * o)
        for s in ("individuals", "sellers")
        for g in ("control", "treatment")
        for o in (1, 2, 3, 4)
    ]
    write = {"table": "funnel", "config": FUNNEL_CONFIG, "schema": FUNNEL}
    assert _write(spark_cassandra, rows, cassandra_target, **write) == 16
    kept = [
        (s, g, o, u + 1)
        for s, g, o, u in rows
        if (s, g) != ("sellers", "treatment") and (s, g, o) != ("individuals", "control", 4)
    ]
    assert _write(spark_cassandra, kept, cassandra_target, **write) == 11
    stored = _read(cassandra_target, "funnel")
    assert sorted(stored) == sorted((g, s, o) for s, g, o, _ in kept)  # keys sort by name
    assert all(v["users"] == 100 * v["stage_order"] + 1 for v in stored.values())

    session = connect(cassandra_target)
    try:
        orders = session.execute(
            f'SELECT stage_order FROM "{cassandra_target.keyspace}".funnel '
            "WHERE segment_name = 'sellers' AND ab_group = 'control'"
        )
        assert [r.stage_order for r in orders] == [4, 3, 2, 1]  # 'stage_order desc'
    finally:
        session.cluster.shutdown()


def test_null_key_fails_before_writing(spark_cassandra, cassandra_target):
    rows = [_user(f"MLB{n}", n) for n in range(5)]
    _write(spark_cassandra, rows, cassandra_target)
    with pytest.raises(MaterializationError) as err:
        _write(spark_cassandra, [_user("MLB1", 1, segment=5), _user(None, 2)], cassandra_target)
    text = str(err.value)
    assert text.startswith("models/marts/users.sql: model 'users': key column 'user_id' is NULL")
    assert "hint:" in text
    assert _read(cassandra_target, "users") == {(r[0],): _expected(r) for r in rows}


def test_failing_write_keeps_previous_rows_readable(spark_cassandra, cassandra_target):
    rows = [_user(f"MLB{n}", n) for n in range(300)]
    _write(spark_cassandra, rows, cassandra_target)
    # Cassandra refuses a NULL inside a collection: the write fails part-way through.
    new = [_user(f"MLB{n}", n, segment=7) for n in range(300)]
    new[150] = _user("MLB150", 150, milestones={"registration": None})
    new.append(_user("MLB_NEW", 1000))
    with pytest.raises(MaterializationError) as err:
        _write(spark_cassandra, new, cassandra_target)
    assert "model 'users': writing to" in str(err.value)
    stored = _read(cassandra_target, "users")
    for row in rows:  # every previous key is still there, with its old or its new values
        assert stored[(row[0],)]["segment"] in (row[1], 7)
    assert ("MLB_NEW",) not in stored or stored[("MLB_NEW",)]["segment"] == 7


def test_duplicate_keys_are_refused(spark_cassandra, cassandra_target):
    with pytest.raises(
        MaterializationError, match=r"primary key \(\(user_id\)\) is not unique: 2 rows"
    ):
        _write(spark_cassandra, [_user("MLB1", 1)] * 3, cassandra_target)


def test_new_column_is_added(spark_cassandra, cassandra_target):
    rows = [_user(f"MLB{n}", n) for n in range(3)]
    _write(spark_cassandra, rows, cassandra_target)
    wider = T.StructType([*USERS.fields, T.StructField("habit_source", T.IntegerType())])
    _write(spark_cassandra, [r + (5,) for r in rows], cassandra_target, schema=wider)
    stored = _read(cassandra_target, "users")
    assert {v["habit_source"] for v in stored.values()} == {5}


def test_changed_key_needs_full_refresh(spark_cassandra, cassandra_target):
    rows = [_user(f"MLB{n}", n) for n in range(4)]
    _write(spark_cassandra, rows, cassandra_target)
    by_segment = ModelConfig(
        materialized="cassandra", partition_key=["segment"], clustering_key=["user_id"]
    )
    with pytest.raises(MaterializationError) as err:
        _write(spark_cassandra, rows, cassandra_target, config=by_segment)
    assert "primary key changed from ((user_id)) to ((segment), user_id)" in str(err.value)
    assert "--full-refresh" in str(err.value)

    assert _write(spark_cassandra, rows[:2], cassandra_target, config=by_segment, full_refresh=True)
    stored = _read(cassandra_target, "users")
    assert sorted(stored) == [(1, "MLB0"), (2, "MLB1")]  # keys sorted by name: segment, user_id


def test_changed_type_needs_full_refresh(spark_cassandra, cassandra_target):
    _write(spark_cassandra, [_user("MLB1", 1)], cassandra_target)
    changed = T.StructType(
        [T.StructField("segment", T.StringType()) if f.name == "segment" else f for f in USERS]
    )
    with pytest.raises(MaterializationError) as err:
        _write(spark_cassandra, [_user("MLB1", 1, segment="one")], cassandra_target, schema=changed)
    assert "column 'segment' changed type from int to text" in str(err.value)
    assert "--full-refresh" in str(err.value)


def test_invalid_identifier_is_refused(spark_cassandra, cassandra_target):
    df = spark_cassandra.createDataFrame([("MLB1", 1)], "user_id string, `Drop Rate` int")
    with pytest.raises(MaterializationError) as err:
        write_mart(
            df,
            table="users",
            config=USERS_CONFIG,
            target=cassandra_target,
            full_refresh=False,
            model_path="models/marts/users.sql",
        )
    assert "invalid column name 'Drop Rate'" in str(err.value)
    assert "drop_rate" in str(err.value)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_node_is_a_quick_service_error():
    port = _free_port()
    began = time.monotonic()
    with pytest.raises(ServiceError) as err:
        connect(CassandraTarget(port=port))
    assert time.monotonic() - began < 30
    assert f"cannot reach Cassandra at 127.0.0.1:{port}" in str(err.value)


def _error_texts(err: BaseException) -> str:
    texts, seen = [], err
    while seen is not None:
        texts += [str(seen), repr(seen), str(getattr(seen, "hint", ""))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(texts)


def test_auth_node_accepts_right_and_refuses_wrong_credentials(cassandra_auth_node, monkeypatch):
    monkeypatch.delenv(CASSANDRA_USER_ENV, raising=False)
    monkeypatch.delenv(CASSANDRA_PASSWORD_ENV, raising=False)
    good = cassandra_auth_node.target
    session = connect(good)
    try:
        assert session.execute("SELECT release_version FROM system.local").one()
    finally:
        session.cluster.shutdown()

    secret = "n0t-the-Passw0rd"
    with pytest.raises(ServiceError) as err:
        connect(good.model_copy(update={"password": SecretStr(secret)}))
    assert str(err.value).startswith(
        "Cassandra authentication failed for user 'cassandra' at 127.0.0.1:9242"
    )
    assert secret not in _error_texts(err.value)

    with pytest.raises(ServiceError, match="requires authentication"):
        connect(good.model_copy(update={"username": None, "password": None}))


def test_auth_node_password_from_environment(cassandra_auth_node, monkeypatch):
    monkeypatch.setenv(CASSANDRA_USER_ENV, "cassandra")
    monkeypatch.setenv(CASSANDRA_PASSWORD_ENV, "wrong-from-env")
    target = cassandra_auth_node.target.model_copy(update={"username": None, "password": None})
    with pytest.raises(ServiceError) as err:
        connect(target)
    assert "authentication failed for user 'cassandra'" in str(err.value)
    assert "wrong-from-env" not in _error_texts(err.value)


def test_write_mart_through_spark_with_auth(spark_cassandra, cassandra_auth_node, monkeypatch):
    monkeypatch.delenv(CASSANDRA_USER_ENV, raising=False)
    monkeypatch.delenv(CASSANDRA_PASSWORD_ENV, raising=False)
    target = cassandra_auth_node.target.model_copy(update={"keyspace": "auth_write"})
    rows = [_user(f"MLB{n}", n) for n in range(3)]
    assert _write(spark_cassandra, rows, target, full_refresh=True) == 3
    assert _write(spark_cassandra, rows[:2], target) == 2
    assert _read(target, "users") == {(r[0],): _expected(r) for r in rows[:2]}


def test_node_is_reused_and_reports_status(cassandra_node, monkeypatch):
    if cassandra_node.state_dir is None:
        pytest.skip(f"using the node on ${'RUNNER_TEST_CASSANDRA_PORT'}")
    monkeypatch.delenv(CASSANDRA_USER_ENV, raising=False)
    state = nodes.status(cassandra_node.state_dir)
    assert state.running and state.address == f"127.0.0.1:{cassandra_node.target.port}"
    assert state.version is not None and state.version.startswith("5.0")
    info = nodes.ensure_running(cassandra_node.state_dir, cassandra_node.target)
    assert not info.started and info.pid == state.pid and info.startup_seconds == 0.0


def test_start_refuses_a_port_in_use(cassandra_node, tmp_path):
    with pytest.raises(ServiceError, match=f"port 127.0.0.1:{cassandra_node.target.port} is"):
        nodes.start(tmp_path / "node", port=cassandra_node.target.port, storage_port=_free_port())


def test_stale_pid_file_is_cleaned_up(tmp_path: Path):
    state = tmp_path / "node"
    state.mkdir()
    finished = subprocess.Popen(["true"])
    finished.wait()
    for pid in (finished.pid, os.getpid()):  # a dead process, then one that is not Cassandra
        (state / "cassandra.pid").write_text(f"{pid}\n")
        assert not nodes.status(state).running
        assert nodes.stop(state) is False
        assert not (state / "cassandra.pid").exists()
