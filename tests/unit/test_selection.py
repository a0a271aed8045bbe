from __future__ import annotations

import pytest

from runner.errors import SelectionError
from runner.graph import Graph
from runner.selection import NodeInfo, parse_atom, select

# a -> b -> c ; a -> d ; e (isolated)
GRAPH = Graph({"a": [], "b": ["a"], "c": ["b"], "d": ["a"], "e": []})
NODES = {
    "a": NodeInfo("a", "models/staging/a.sql", ("staging",)),
    "b": NodeInfo("b", "models/intermediate/b.sql"),
    "c": NodeInfo("c", "models/marts/c.sql", ("mart", "daily")),
    "d": NodeInfo("d", "models/marts/d.sql", ("mart",), {"materialized": "cassandra"}),
    "e": NodeInfo("e", "models/other/e.sql"),
}


@pytest.mark.parametrize(
    "spec, expected",
    [
        ([], ["a", "e", "b", "d", "c"]),              # nothing selected = everything
        (["b"], ["b"]),                               # a name
        (["+b"], ["a", "b"]),                         # with ancestors
        (["b+"], ["b", "c"]),                         # with descendants
        (["+c"], ["a", "b", "c"]),
        (["1+c"], ["b", "c"]),                        # one level up
        (["a+1"], ["a", "b", "d"]),                    # one level down
        (["tag:mart"], ["d", "c"]),
        (["path:models/marts"], ["d", "c"]),
        (["path:models/staging/a.sql"], ["a"]),
        (["b e"], ["e", "b"]),                        # union by space
        (["tag:mart,c"], ["c"]),                      # intersection by comma
        (["a+,tag:mart"], ["d", "c"]),
        (["config.materialized:cassandra"], ["d"]),
        (["@b"], ["a", "b", "c"]),                    # b, descendants and their ancestors
        (["*"], ["a", "e", "b", "d", "c"]),           # wildcard
    ],
)
def test_select(spec, expected):
    assert select(GRAPH, NODES, spec) == expected


def test_exclude():
    assert select(GRAPH, NODES, ["a+"], ["tag:mart"]) == ["a", "b"]


def test_state_needs_a_manifest():
    with pytest.raises(SelectionError, match="needs a saved manifest"):
        select(GRAPH, NODES, ["state:modified"])


def test_state_predicate_plus_descendants():
    assert select(GRAPH, NODES, ["state:modified+"], state=lambda n, k: n == "b") == ["b", "c"]


@pytest.mark.parametrize("bad", ["+", "tag:", "a++b", "foo:bar"])
def test_bad_selectors(bad):
    with pytest.raises(SelectionError):
        select(GRAPH, NODES, [bad])


def test_parse_atom():
    atom = parse_atom("2+tag:mart+")
    assert (atom.method, atom.value, atom.parents, atom.children) == ("tag", "mart", 2, -1)


# -- tests as nodes under their models ------------------------------------------------------
# The same models, plus: a generic test on b (tag nightly); a relationships-style test on c that
# also reads d; one on b that also reads its ancestor a; a singular test reading a and e; one
# reading only sources; a unit test of b (tag fast).
TESTS = {
    **NODES,
    "test.not_null_b_id": NodeInfo("not_null_b_id", "models/schema.yml", ("nightly",),
                                   {"severity": "warn"}, "generic", ("b",)),
    "test.rel_c_d": NodeInfo("rel_c_d", "models/schema.yml", (), {"severity": "error"},
                             "generic", ("c", "d")),
    "test.rel_b_a": NodeInfo("rel_b_a", "models/schema.yml", (), None, "generic", ("b", "a")),
    "test.assert_a_e": NodeInfo("assert_a_e", "tests/assert_a_e.sql", (), None, "singular",
                                ("a", "e")),
    "test.assert_raw": NodeInfo("assert_raw", "tests/assert_raw.sql", (), None, "singular"),
    "unit_test.b_rules": NodeInfo("b_rules", "models/_unit_tests.yml", ("fast",), None, "unit",
                                  ("b",)),
}
ALL_TESTS = ["test.assert_a_e", "test.assert_raw", "test.not_null_b_id", "test.rel_b_a",
             "test.rel_c_d", "unit_test.b_rules"]


@pytest.mark.parametrize(
    "spec, exclude, expected",
    [
        # nothing selected = every model and every test, a test on sources only included
        ([], [], ["a", "e", "b", "d", "c", *ALL_TESTS]),
        # a model brings its generic, singular and unit tests (eager)
        (["b"], [], ["b", "test.not_null_b_id", "test.rel_b_a", "unit_test.b_rules"]),
        (["a"], [], ["a", "test.assert_a_e", "test.rel_b_a"]),
        # a test reading two models comes with either
        (["c"], [], ["c", "test.rel_c_d"]),
        (["d"], [], ["d", "test.rel_c_d"]),
        (["c+"], [], ["c", "test.rel_c_d"]),
        # a test by name, with wildcards: no model
        (["rel_c_d"], [], ["test.rel_c_d"]),
        (["rel_*"], [], ["test.rel_b_a", "test.rel_c_d"]),
        # +test: the models it reads and their ancestors, and (eager) their tests
        (["+not_null_b_id"], [], ["a", "b", "test.assert_a_e", "test.not_null_b_id",
                                  "test.rel_b_a", "unit_test.b_rules"]),
        (["1+rel_c_d"], [], ["d", "c", "test.rel_c_d"]),
        (["2+rel_c_d"], [], ["a", "b", "d", "c", "test.assert_a_e", "test.not_null_b_id",
                             "test.rel_b_a", "test.rel_c_d", "unit_test.b_rules"]),
        # tag: on the test itself; a model's tag brings the model's tests
        (["tag:nightly"], [], ["test.not_null_b_id"]),
        (["tag:fast"], [], ["unit_test.b_rules"]),
        (["tag:mart"], [], ["d", "c", "test.rel_c_d"]),
        # test_type:
        (["test_type:generic"], [], ["test.not_null_b_id", "test.rel_b_a", "test.rel_c_d"]),
        (["test_type:singular"], [], ["test.assert_a_e", "test.assert_raw"]),
        (["test_type:unit"], [], ["unit_test.b_rules"]),
        (["test_type:generic,b"], [], ["test.not_null_b_id", "test.rel_b_a"]),
        # path: a test's file; config. a test's config
        (["path:tests"], [], ["test.assert_a_e", "test.assert_raw"]),
        (["config.severity:warn"], [], ["test.not_null_b_id"]),
        # --exclude applies to tests, and excluding a model excludes every test that reads it
        (["b"], ["not_null_b_id"], ["b", "test.rel_b_a", "unit_test.b_rules"]),
        (["c", "d"], ["d"], ["c"]),
        ([], ["test_type:unit tag:nightly"], ["a", "e", "b", "d", "c", "test.assert_a_e",
                                                "test.assert_raw", "test.rel_b_a",
                                                "test.rel_c_d"]),
        (["b+"], ["a"], ["b", "c", "test.not_null_b_id", "test.rel_c_d",
                         "unit_test.b_rules"]),  # rel_b_a reads a
    ],
)
def test_select_tests(spec, exclude, expected):
    assert select(GRAPH, TESTS, spec, exclude) == expected


@pytest.mark.parametrize(
    "mode, spec, expected",
    [
        # eager: a test that reads any selected model
        ("eager", ["c"], ["c", "test.rel_c_d"]),
        ("eager", ["b"], ["b", "test.not_null_b_id", "test.rel_b_a", "unit_test.b_rules"]),
        # cautious: only a test whose every model is selected
        ("cautious", ["c"], ["c"]),
        ("cautious", ["c d"], ["d", "c", "test.rel_c_d"]),  # the union selects both
        ("cautious", ["c", "d"], ["d", "c", "test.rel_c_d"]),
        ("cautious", ["b"], ["b", "test.not_null_b_id", "unit_test.b_rules"]),
        ("cautious", ["+b"], ["a", "b", "test.not_null_b_id", "test.rel_b_a",
                              "unit_test.b_rules"]),
        ("cautious", ["rel_c_d"], ["test.rel_c_d"]),  # a test selected itself stays
        # buildable: every model selected or an ancestor of a selected one
        ("buildable", ["b"], ["b", "test.not_null_b_id", "test.rel_b_a", "unit_test.b_rules"]),
        ("buildable", ["c"], ["c"]),  # d is no ancestor of c
        ("buildable", ["c a"], ["a", "c", "test.rel_b_a"]),  # b is an ancestor of c
        # empty: no test that is not selected itself
        ("empty", ["b"], ["b"]),
        ("empty", ["b+"], ["b", "c"]),
        ("empty", ["b not_null_b_id"], ["b", "test.not_null_b_id"]),
        ("empty", ["test_type:unit"], ["unit_test.b_rules"]),
        ("empty", [], ["a", "e", "b", "d", "c", *ALL_TESTS]),  # nothing selected: every node
    ],
)
def test_indirect_selection(mode, spec, expected):
    assert select(GRAPH, TESTS, spec, indirect_selection=mode) == expected


def test_exclude_is_eager_whatever_the_mode():
    # cautious would keep rel_c_d for `--exclude d`; dbt expands exclusions eagerly
    assert select(GRAPH, TESTS, ["c d"], ["d"], indirect_selection="cautious") == ["c"]


def test_state_of_a_test_is_asked_by_its_unique_id():
    asked = []

    def state(key, kind):
        asked.append(key)
        return key == "test.rel_c_d"

    assert select(GRAPH, TESTS, ["state:modified"], state=state) == ["test.rel_c_d"]
    assert "unit_test.b_rules" in asked and "b" in asked


@pytest.mark.parametrize("spec, message", [
    (["test_type:data"], "unknown test type 'test_type:data'"),
])
def test_bad_test_selectors(spec, message):
    with pytest.raises(SelectionError, match=message):
        select(GRAPH, TESTS, spec)


def test_unknown_indirect_selection():
    with pytest.raises(SelectionError, match="unknown indirect selection 'lazy'"):
        select(GRAPH, TESTS, ["b"], indirect_selection="lazy")
