from __future__ import annotations

import pytest

from runner.graph import CycleFound, Graph


def test_topological_order_is_deterministic():
    g = Graph({"c": ["a", "b"], "b": ["a"], "a": [], "d": []})
    assert g.order() == ["a", "d", "b", "c"]
    assert g.order({"c", "a"}) == ["a", "c"]


def test_ancestors_and_descendants_with_depth():
    g = Graph({"a": [], "b": ["a"], "c": ["b"], "d": ["c"]})
    assert g.ancestors("d") == {"a", "b", "c"}
    assert g.ancestors("d", 1) == {"c"}
    assert g.descendants("a", 2) == {"b", "c"}


def test_cycle_reports_path():
    with pytest.raises(CycleFound) as info:
        Graph({"a": ["c"], "b": ["a"], "c": ["b"], "d": []})
    path = info.value.path
    assert path[0] == path[-1]
    assert set(path) == {"a", "b", "c"}
    assert len(path) == 4
