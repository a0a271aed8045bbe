"""Node selection: `-s/--select` and `--exclude`, dbt's grammar.

A spec is a space-separated union of terms; a term is a comma-separated intersection of atoms;
an atom is `[N]+?` `method:value` or a name, then `+[N]?`, or `@name`. Methods: name (default,
`*` wildcards), `tag:`, `path:`, `config.<key>:`, `state:modified` / `state:new`, and
`test_type:unit` (unit tests; no model).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from runner.errors import SelectionError
from runner.graph import Graph


@dataclass(frozen=True)
class NodeInfo:
    """What selectors look at."""

    name: str
    path: str  # relative, posix
    tags: tuple[str, ...] = ()
    config: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Atom:
    method: str
    value: str
    parents: int | None = None  # None: not requested; -1: all
    children: int | None = None
    at: bool = False


_ATOM = re.compile(
    r"^(?P<at>@)?(?P<pp>(?P<pd>\d*)\+)?(?P<body>[^+@]+?)(?P<cp>\+(?P<cd>\d*))?$"
)


def parse_atom(text: str) -> Atom:
    """Parse one selector atom.

    Example:
        >>> parse_atom("2+tag:mart+")
        Atom(method='tag', value='mart', parents=2, children=-1, at=False)
    """
    match = _ATOM.match(text)
    if not match or not match.group("body"):
        raise SelectionError(
            f"cannot parse selector '{text}'",
            hint="use name, +name, name+, @name, tag:x, path:models/x, state:modified",
        )
    body = match.group("body")
    method, _, value = body.partition(":") if ":" in body else ("name", "", body)
    if not value:
        raise SelectionError(f"selector '{text}' has an empty value after '{method}:'")
    parents = _depth(match.group("pd")) if match.group("pp") else None
    children = _depth(match.group("cd")) if match.group("cp") else None
    return Atom(method, value, parents, children, bool(match.group("at")))


def _depth(digits: str | None) -> int:
    return int(digits) if digits else -1


StatePredicate = Callable[[str, str], bool]  # (node name, "modified"|"new") -> selected


def select(
    graph: Graph,
    nodes: Mapping[str, NodeInfo],
    select: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    *,
    state: StatePredicate | None = None,
) -> list[str]:
    """Resolve --select/--exclude to node names in topological order.

    Args:
        graph: the DAG.
        nodes: every node by name.
        select: spec strings (each may hold several space-separated terms); empty = all nodes.
        exclude: spec strings to remove.
        state: answers `state:` atoms; required only when they are used.

    Returns:
        The selected node names, in build order.
    """
    chosen = _evaluate(graph, nodes, list(select or []), state) if select else set(nodes)
    if exclude:
        chosen -= _evaluate(graph, nodes, list(exclude), state)
    return graph.order(chosen)


def _evaluate(
    graph: Graph, nodes: Mapping[str, NodeInfo], specs: list[str], state: StatePredicate | None
) -> set[str]:
    result: set[str] = set()
    for spec in specs:
        for term in spec.split():
            parts = [_resolve(graph, nodes, parse_atom(a), state) for a in term.split(",") if a]
            if parts:
                result |= set.intersection(*parts)
    return result


def _resolve(
    graph: Graph, nodes: Mapping[str, NodeInfo], atom: Atom, state: StatePredicate | None
) -> set[str]:
    base = {n for n, info in nodes.items() if _matches(atom, n, info, state)}
    out = set(base)
    for n in base:
        if atom.parents is not None:
            out |= graph.ancestors(n, None if atom.parents < 0 else atom.parents)
        if atom.children is not None:
            out |= graph.descendants(n, None if atom.children < 0 else atom.children)
        if atom.at:
            for d in graph.descendants(n) | {n}:
                out |= {d} | graph.ancestors(d)
    return out


def _matches(atom: Atom, name: str, info: NodeInfo, state: StatePredicate | None) -> bool:
    if atom.method in ("name", "fqn"):
        return fnmatch.fnmatchcase(name, atom.value.lower())
    if atom.method == "tag":
        return any(fnmatch.fnmatchcase(t, atom.value) for t in info.tags)
    if atom.method == "path":
        want = PurePosixPath(atom.value.rstrip("/"))
        path = PurePosixPath(info.path)
        return path == want or want in path.parents or fnmatch.fnmatchcase(str(path), atom.value)
    if atom.method.startswith("config."):
        key = atom.method.split(".", 1)[1]
        value = (info.config or {}).get(key)
        values = value if isinstance(value, list | tuple) else [value]
        return any(str(v).lower() == atom.value.lower() for v in values)
    if atom.method == "test_type":
        if atom.value != "unit":
            raise SelectionError(
                f"unknown test type 'test_type:{atom.value}'",
                hint="test_type:unit selects unit tests; data tests come with their models",
            )
        return False  # a model is no test: runner.datatests.unit selects the unit tests
    if atom.method == "state":
        if state is None:
            raise SelectionError(
                f"'state:{atom.value}' needs a saved manifest to compare with",
                hint="pass --state PATH (a folder with a manifest.json from an earlier run)",
            )
        if atom.value not in ("modified", "new"):
            raise SelectionError(f"unknown state selector 'state:{atom.value}'",
                                 hint="use state:modified or state:new")
        return state(name, atom.value)
    raise SelectionError(
        f"unknown selector method '{atom.method}:'",
        hint="methods: tag:, path:, config.<key>:, state:, test_type:, or a model name",
    )
