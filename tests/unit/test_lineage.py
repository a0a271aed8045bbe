"""Column lineage with sqlglot: small SQL first, then the project's own marts (no Spark)."""

from __future__ import annotations

import pytest

from runner.compile import compile_project
from runner.config import RunConfig
from runner.docs.catalog import project_lineage
from runner.lineage import Col, expression_columns, infer_columns, trace
from tests.conftest import ROOT

RAW = {"raw": ["id", "a", "b", "ts"], "other": ["id", "kind"]}


def raw(graph, relation: str, column: str) -> list[str]:
    return [str(c) for c in graph.raw_columns(Col(relation, column))]


def test_ctes_resolve_to_source_columns():
    g = trace([("m", """
        with base as (select id, a + b as total, ts from raw),
        agg as (select id, sum(total) as total, count(*) as n from base group by id)
        select id, total, n from agg
    """)], RAW)
    assert g.models["m"].columns == ("id", "total", "n")
    assert raw(g, "m", "total") == ["raw.a", "raw.b"]
    assert raw(g, "m", "n") == []  # a count reads no column's values


def test_star_is_expanded_from_upstream_columns_through_models():
    g = trace([
        ("stg", "select *, upper(kind) as kind_name from other"),
        ("mart", "select * from stg"),
    ], RAW)
    assert g.models["mart"].columns == ("id", "kind", "kind_name")
    assert g.parents(Col("mart", "kind_name")) == (Col("stg", "kind_name"),)
    assert raw(g, "mart", "kind_name") == ["other.kind"]
    assert g.ancestors(Col("mart", "kind_name")) == {Col("stg", "kind_name"), Col("other", "kind")}


def test_joins_unions_and_windows():
    g = trace([("m", """
        select r.id, coalesce(o.kind, r.a) as k,
               row_number() over (partition by r.id order by r.ts) as rn
        from raw as r left join other as o on r.id = o.id
        union all
        select id, b, 0 from raw
    """)], RAW)
    assert raw(g, "m", "k") == ["other.kind", "raw.a", "raw.b"]  # both union branches
    assert raw(g, "m", "rn") == ["raw.id", "raw.ts"]  # window keys are part of the value
    assert raw(g, "m", "id") == ["raw.id"]  # the join key is not a parent of other columns


def test_lambdas_and_structs():
    g = trace([("m", """
        select transform(array(a, b), v -> v || id) as xs,
               named_struct('k', kind, 'n', 1) as s
        from raw join other using (id)
    """)], RAW)
    assert {"raw.a", "raw.b"} <= set(raw(g, "m", "xs"))
    assert raw(g, "m", "s") == ["other.kind"]


def test_struct_fields_are_traced_one_by_one():
    # staging keeps the raw strings in one struct and parses its fields in later CTEs
    g = trace([("m", """
        with r as (select named_struct('a', a, 'b', b) as rec, id from raw),
        p as (select *, trim(rec.a) as x from r)
        select x, upper(rec.b) as y, rec from p
    """)], RAW)
    assert raw(g, "m", "x") == ["raw.a"]
    assert raw(g, "m", "y") == ["raw.b"]
    assert raw(g, "m", "rec") == ["raw.a", "raw.b"]
    assert g.models["m"].columns == ("x", "y", "rec")  # the output keeps its columns


def test_sql_sqlglot_cannot_trace_keeps_its_columns_and_the_reason():
    g = trace([("bad", "select id, from raw where")], RAW)
    assert g.models["bad"].error
    assert g.parents(Col("bad", "id")) == ()


def test_infer_columns_expands_stars_only_where_needed():
    models = {"stg": "select *, 1 as one from raw", "mart": "select * from stg",
              "plain": "select x as y from nowhere", "broken": "select from"}
    cols = infer_columns(models, RAW, ["mart", "plain", "broken"])
    assert cols == {"mart": ("id", "a", "b", "ts", "one"), "plain": ("y",), "broken": None}


def test_expression_columns():
    assert expression_columns("AVG(`drop`)") == {"drop"}
    assert expression_columns("concat(stage_order, '. ', stage)") == {"stage_order", "stage"}
    assert expression_columns("SUM(CASE WHEN significant THEN 1 ELSE 0 END)") == {"significant"}


# -- the project's marts, traced to the raw CSV columns ----------------------------------------


@pytest.fixture(scope="module")
def project_graph():
    cp = compile_project(RunConfig(project_dir=ROOT, command="docs"), check_sql=False)
    return project_lineage(cp)


def project_raw(graph, model: str, column: str) -> set[str]:
    return {str(c).removeprefix("src__raw__") for c in graph.raw_columns(Col(model, column))}


def test_every_model_is_traced(project_graph):
    assert all(m.error is None for m in project_graph.models.values()), {
        n: m.error for n, m in project_graph.models.items() if m.error}
    # user_onboarding_metrics is `select *`: its columns come from int_user_metrics
    assert project_graph.columns("user_onboarding_metrics") == project_graph.columns(
        "int_user_metrics")


def test_habit_comes_from_transactions_not_from_habito(project_graph):
    # habit is computed from the window's transactions (distinct days, type 8/9 collections);
    # the segment deciding which rule applies comes from transactions and dim_users
    habit = project_raw(project_graph, "user_onboarding_metrics", "habit")
    assert {"bt_users_transactions.transaction_dt", "bt_users_transactions.type",
            "bt_users_transactions.segment"} <= habit
    assert "lk_onboarding.habito" not in habit
    assert project_raw(project_graph, "user_onboarding_metrics", "habit_source") == {
        "lk_onboarding.habito"}


def test_p_value_comes_from_assignment_and_flag_inputs(project_graph):
    p_value = project_raw(project_graph, "ab_test_results", "p_value")
    assert {"lk_onboarding.user_id",  # hashed into the A/B bucket
            "lk_onboarding.return", "lk_onboarding.activacion_dt", "lk_onboarding.setup_dt",
            "bt_users_transactions.transaction_dt", "bt_users_transactions.type"} <= p_value
    assert not any(c.startswith("dim_users.") and c != "dim_users.user_id" for c in p_value)


def test_days_to_activation(project_graph):
    assert project_raw(project_graph, "int_user_metrics", "days_to_activation") == {
        "lk_onboarding.activacion_dt", "lk_onboarding.first_login_dt"}
