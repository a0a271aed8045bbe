"""The DAG of models: topological order, cycle paths, ancestors and descendants."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping


class Graph:
    """Models as nodes, `ref()` edges from parent to child."""

    def __init__(self, parents: Mapping[str, Iterable[str]]) -> None:
        self.parents: dict[str, frozenset[str]] = {n: frozenset(p) for n, p in parents.items()}
        self.children: dict[str, set[str]] = {n: set() for n in self.parents}
        for node, ps in self.parents.items():
            for p in ps:
                self.children.setdefault(p, set()).add(node)
        self._order = self._sort()

    def _sort(self) -> list[str]:
        sorter = graphlib.TopologicalSorter({n: sorted(p) for n, p in self.parents.items()})
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            raise CycleFound(list(exc.args[1])) from None
        order: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            order.extend(ready)
            sorter.done(*ready)
        return order

    def order(self, nodes: Iterable[str] | None = None) -> list[str]:
        """Nodes in a deterministic topological order (all, or the given subset)."""
        if nodes is None:
            return list(self._order)
        keep = set(nodes)
        return [n for n in self._order if n in keep]

    def ancestors(self, node: str, depth: int | None = None) -> set[str]:
        return _walk(node, self.parents, depth)

    def descendants(self, node: str, depth: int | None = None) -> set[str]:
        return _walk(node, self.children, depth)


class CycleFound(Exception):
    """Raised by Graph with the cycle as a path whose first and last node are equal."""

    def __init__(self, path: list[str]) -> None:
        super().__init__(" -> ".join(reversed(path)))
        self.path = list(reversed(path))


def _walk(start: str, edges: Mapping[str, Iterable[str]], depth: int | None) -> set[str]:
    seen: set[str] = set()
    frontier = {start}
    level = 0
    while frontier and (depth is None or level < depth):
        nxt: set[str] = set()
        for n in frontier:
            for m in edges.get(n, ()):
                if m not in seen:
                    seen.add(m)
                    nxt.add(m)
        frontier = nxt
        level += 1
    return seen
