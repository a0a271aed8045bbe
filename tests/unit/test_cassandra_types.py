"""Fast checks of the pure parts of runner/cassandra/: types, names, keys, DDL, schema changes,
connector settings and delete batches."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from pyspark.sql import types as T

from runner.cassandra import client, connector, schema, writes
from runner.cassandra.connector import connector_options, connector_spark_conf
from runner.cassandra.schema import (
    TableSpec,
    cql_type,
    create_table_cql,
    plan_alter,
    table_spec,
    validate_identifier,
)
from runner.cassandra.writes import DELETE_BATCH_ROWS, delete_statements
from runner.config import CassandraTarget, ModelConfig
from runner.errors import MaterializationError, ServiceError


@pytest.mark.parametrize(
    ("spark_type", "expected"),
    [
        (T.StringType(), "text"),
        (T.IntegerType(), "int"),
        (T.LongType(), "bigint"),  # count(*) results
        (T.DoubleType(), "double"),
        (T.BooleanType(), "boolean"),
        (T.DateType(), "date"),
        (T.TimestampType(), "timestamp"),
        (T.DecimalType(10, 2), "decimal"),
        (T.MapType(T.StringType(), T.DateType()), "map<text,date>"),  # milestones
        (T.MapType(T.StringType(), T.StringType()), "map<text,text>"),  # quarantined raw
        (T.ArrayType(T.IntegerType()), "set<int>"),  # transaction_types
        (T.ArrayType(T.ArrayType(T.IntegerType())), "set<frozen<set<int>>>"),  # nested: frozen
        (T.MapType(T.StringType(), T.ArrayType(T.LongType())), "map<text,frozen<set<bigint>>>"),
    ],
)
def test_cql_type(spark_type, expected):
    assert cql_type(spark_type) == expected


def test_cql_type_refuses_structs():
    with pytest.raises(MaterializationError, match="struct<a:int> has no Cassandra column type"):
        cql_type(T.StructType([T.StructField("a", T.IntegerType())]))


@pytest.mark.parametrize("name", ["user_id", "drop", "a", "ab_test_results", "x" * 48, "week_2022"])
def test_valid_identifiers(name):
    assert validate_identifier(name, "column") == name


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("UserId", "userid"),  # upper case would need quoting everywhere
        ("drop rate", "drop_rate"),
        ("1st_login", "c_1st_login"),
        ("_private", "private"),
        ("x" * 49, "x" * 48),
        ("taxa-ativação", "taxa_ativa_o"),
        ("", "x"),
    ],
)
def test_invalid_identifiers(name, suggestion):
    with pytest.raises(MaterializationError) as err:
        validate_identifier(name, "column")
    assert str(err.value) == (
        f"invalid column name '{name}': Cassandra names must be lowercase letters, digits and _, "
        f"start with a letter and have at most 48 characters\n"
        f"hint: rename the column, e.g. to '{suggestion}'"
    )


FUNNEL = T.StructType(
    [
        T.StructField("segment_name", T.StringType()),
        T.StructField("ab_group", T.StringType()),
        T.StructField("stage_order", T.IntegerType()),
        T.StructField("users", T.LongType()),
        T.StructField("rates", T.MapType(T.StringType(), T.DoubleType())),
    ]
)


def _spec(**config) -> TableSpec:
    return table_spec(
        FUNNEL,
        table="onboarding_funnel",
        keyspace="ks",
        config=ModelConfig(materialized="cassandra", **config),
        model_path="models/marts/onboarding_funnel.sql",
    )


def test_table_spec_and_ddl():
    spec = _spec(partition_key=["segment_name", "ab_group"], clustering_key=["stage_order DESC"])
    assert spec.key_columns == ("segment_name", "ab_group", "stage_order")
    assert create_table_cql(spec) == (
        'CREATE TABLE IF NOT EXISTS "ks"."onboarding_funnel" ("segment_name" text, '
        '"ab_group" text, "stage_order" int, "users" bigint, "rates" map<text,double>, '
        'PRIMARY KEY (("segment_name", "ab_group"), "stage_order")) '
        'WITH CLUSTERING ORDER BY ("stage_order" DESC)'
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "model 'onboarding_funnel' is materialized as cassandra but has no partition_key"),
        ({"partition_key": ["segment"]}, "key column 'segment' is not in the model's output"),
        ({"partition_key": ["rates"]}, "key column 'rates' is a collection (map<text,double>)"),
        (
            {"partition_key": ["segment_name"], "clustering_key": ["stage_order sideways"]},
            "invalid clustering_key entry 'stage_order sideways'",
        ),
        (
            {"partition_key": ["segment_name"], "clustering_key": ["segment_name"]},
            "a column appears twice in partition_key/clustering_key",
        ),
    ],
)
def test_table_spec_errors_name_the_model(config, message):
    with pytest.raises(MaterializationError) as err:
        _spec(**config)
    assert str(err.value).startswith("models/marts/onboarding_funnel.sql: ")
    assert message in str(err.value)


def _existing(spec: TableSpec, **types: str) -> dict[str, tuple[str, int, str, str]]:
    """system_schema.columns rows for `spec`, with some types overridden."""
    out = {}
    for pos, name in enumerate(spec.partition_key):
        out[name] = ("partition_key", pos, "none", types.get(name, dict(spec.columns)[name]))
    for pos, (name, order) in enumerate(spec.clustering):
        out[name] = ("clustering", pos, order, types.get(name, dict(spec.columns)[name]))
    for name, ctype in spec.columns:
        if name not in out:
            out[name] = ("regular", -1, "none", types.get(name, ctype))
    return out


BASE = {"partition_key": ["segment_name", "ab_group"], "clustering_key": ["stage_order desc"]}


def test_plan_alter_adds_new_columns_only():
    old = _spec(**BASE)
    existing = {k: v for k, v in _existing(old, rates="map<text, double>").items() if k != "users"}
    assert plan_alter(old, existing, "m.sql") == [("users", "bigint")]  # spaces in types ignored


@pytest.mark.parametrize(
    ("old_config", "types", "message"),
    [
        (
            {"partition_key": ["segment_name"], "clustering_key": ["ab_group", "stage_order"]},
            {},
            (
                "primary key changed from ((segment_name), ab_group, stage_order) to "
                "((segment_name, ab_group), stage_order desc)"
            ),
        ),
        (
            {**BASE, "clustering_key": ["stage_order"]},
            {},
            "primary key changed from ((segment_name, ab_group), stage_order) to",
        ),
        (BASE, {"users": "int"}, "column 'users' changed type from int to bigint"),
    ],
)
def test_plan_alter_incompatible_changes_need_full_refresh(old_config, types, message):
    existing = _existing(_spec(**old_config), **types)
    with pytest.raises(MaterializationError) as err:
        plan_alter(_spec(**BASE), existing, "models/marts/onboarding_funnel.sql")
    assert message in str(err.value)
    assert "hint: rebuild with --full-refresh (drops and recreates ks.onboarding_funnel)" in str(
        err.value
    )


def test_plan_alter_removed_column_needs_full_refresh():
    existing = _existing(_spec(**BASE))
    existing["old_metric"] = ("regular", -1, "none", "double")
    with pytest.raises(MaterializationError, match="column 'old_metric' was removed"):
        plan_alter(_spec(**BASE), existing, "m.sql")


def test_connector_spark_conf(tmp_path: Path):
    for name in ("b.jar", "a.jar", "notes.txt"):
        (tmp_path / name).write_text("")
    target = CassandraTarget(hosts=["10.0.0.1", "10.0.0.2"], port=9142, username="app")
    conf = connector_spark_conf(target, tmp_path)
    assert conf["spark.jars"] == f"{tmp_path / 'a.jar'},{tmp_path / 'b.jar'}"
    assert conf["spark.sql.catalog.cass"].endswith("CassandraCatalog")
    assert conf["spark.cassandra.connection.host"] == "10.0.0.1,10.0.0.2"
    assert conf["spark.cassandra.connection.port"] == "9142"
    assert conf["spark.cassandra.output.consistency.level"] == "LOCAL_ONE"  # one replica
    assert conf["spark.cassandra.auth.username"] == "app"
    three = target.model_copy(
        update={"replication": {"class": "NetworkTopologyStrategy", "dc1": 3}}
    )
    assert connector_options(three)["spark.cassandra.output.consistency.level"] == ("LOCAL_QUORUM")


@pytest.mark.parametrize("module", [client, connector, schema, writes])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (
            T.StructField("Drop Rate", T.DoubleType()),
            "model 'users': invalid column name 'Drop Rate': Cassandra names must be",
        ),
        (
            T.StructField("address", T.StructType([T.StructField("city", T.StringType())])),
            "model 'users': column 'address': Spark type struct<city:string> has no Cassandra",
        ),
    ],
)
def test_table_spec_column_errors(column, message):
    with pytest.raises(MaterializationError) as err:
        table_spec(
            T.StructType([T.StructField("user_id", T.StringType()), column]),
            table="users",
            keyspace="ks",
            config=ModelConfig(partition_key=["user_id"]),
            model_path="models/marts/users.sql",
        )
    assert str(err.value).startswith(f"models/marts/users.sql: {message}")


def test_row_deletes_are_batched_per_partition():
    from cassandra.query import BatchStatement, SimpleStatement

    statement = SimpleStatement("DELETE FROM t WHERE p = %s AND c = %s")
    rows = [("a", i) for i in range(DELETE_BATCH_ROWS + 1)] + [("b", 1)]
    pairs = list(delete_statements(statement, rows, width=1))
    assert [type(s) for s, _ in pairs] == [BatchStatement] * 3
    assert [len(s._statements_and_parameters) for s, _ in pairs] == [DELETE_BATCH_ROWS, 1, 1]
    # partition deletes (no clustering) stay single statements
    assert list(delete_statements(statement, rows[:2], width=0)) == [
        (statement, ("a", 0)),
        (statement, ("a", 1)),
    ]


def test_driver_errors_become_service_errors():
    from cassandra import InvalidRequest

    translate = client.driver_errors("creating the login role 'app'", "use another name")
    with pytest.raises(ServiceError) as err, translate:
        raise InvalidRequest("Error from server: code=2200\n  details")
    assert str(err.value) == (
        "creating the login role 'app' failed: Error from server: code=2200\nhint: use another name"
    )


def test_failures_name_the_model_and_scrub_secrets():
    fail = client.Failures("users", "models/marts/users.sql", ["s3cret"])
    translate = fail.translate(MaterializationError, "writing to ks.users", "run again")
    with pytest.raises(MaterializationError) as err, translate:
        raise RuntimeError("login app/s3cret refused\n\tat Foo.bar")
    assert str(err.value) == (
        "models/marts/users.sql: model 'users': writing to ks.users failed: "
        "login app/***** refused\nhint: run again"
    )


def test_a_lost_node_is_retried_on_a_ring_and_other_failures_are_not():
    from runner.cassandra.writes import NODE_LOST_TRIES, node_lost, retry_node_loss

    lost = RuntimeError(
        "com.datastax.oss.driver.shaded.netty.channel.StacklessClosedChannelException"
    )
    assert node_lost(lost) and not node_lost(ValueError("no such column"))
    calls, resets = [], []

    def flaky():
        calls.append(1)
        if len(calls) < NODE_LOST_TRIES:
            raise lost
        return "done"

    assert retry_node_loss(flaky, lambda: resets.append(1), several_hosts=True, pause=0) == "done"
    assert len(calls) == NODE_LOST_TRIES and len(resets) == NODE_LOST_TRIES - 1

    def always_lost():
        raise lost

    with pytest.raises(RuntimeError):  # one node: nothing else could answer
        retry_node_loss(always_lost, lambda: resets.append(1), several_hosts=False, pause=0)
    calls.clear()

    def bad_sql():
        calls.append(1)
        raise ValueError("no such column")

    with pytest.raises(ValueError):
        retry_node_loss(bad_sql, lambda: None, several_hosts=True, pause=0)
    assert len(calls) == 1
