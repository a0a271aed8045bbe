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
