"""Node selection: `-s/--select`, `--exclude` and `--indirect-selection`, dbt's grammar.

The nodes are the models and, under them, the tests (data tests and unit tests). A spec is a
space-separated union of terms; a term is a comma-separated intersection of atoms; an atom is
`[N]+?` `method:value` or a name, then `+[N]?`, or `@name`. Methods: name (default, `*`
wildcards; a model's or a test's), `tag:`, `path:`, `config.<key>:`, `state:modified` /
`state:new`, and `test_type:generic|singular|unit` (tests only).

Graph operators walk the models; a test's parents are the models it reads (`+test` selects
them), and it has no children. A test that an atom does not match itself comes with the models
the atom selects, as dbt's `--indirect-selection` says:

    eager      a test that reads any selected model (the default)
    cautious   a test whose every model is selected
    buildable  a test whose every model is selected or an ancestor of a selected one
    empty      none

`--exclude` always expands eagerly, as in dbt: excluding a model excludes the tests that read it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal, cast

from runner.errors import SelectionError
from runner.graph import Graph

IndirectSelection = Literal["eager", "cautious", "buildable", "empty"]
INDIRECT_SELECTION: tuple[IndirectSelection, ...] = ("eager", "cautious", "buildable", "empty")
TEST_TYPES = ("generic", "singular", "unit")


@dataclass(frozen=True)
class NodeInfo:
    """What selectors look at: a model, or a test under the models it reads."""

    name: str
    path: str  # relative, posix
    tags: tuple[str, ...] = ()
    config: Mapping[str, Any] | None = None
    test_type: str | None = None  # a test's: generic | singular | unit; None for a model
    depends_on: tuple[str, ...] = ()  # a test's models (their keys in the node mapping)


@dataclass(frozen=True)
class Atom:
    method: str
    value: str
    parents: int | None = None  # None: not requested; -1: all
    children: int | None = None
    at: bool = False


Term = tuple[Atom, ...]  # an intersection
StatePredicate = Callable[[str, str], bool]  # (node key, "modified"|"new") -> selected

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


def parse_spec(specs: Iterable[str]) -> tuple[Term, ...]:
    """Parse --select or --exclude strings into a union of intersections of atoms.

    Example:
        >>> [[a.value for a in term] for term in parse_spec(["a+,tag:x", "b"])]
        [['a', 'x'], ['b']]
    """
    terms = (term.split(",") for spec in specs for term in spec.split())
    return tuple(t for t in (tuple(parse_atom(a) for a in parts if a) for parts in terms) if t)


def ensure_indirect_selection(value: str) -> IndirectSelection:
    """Check an `--indirect-selection` mode.

    Example:
        >>> ensure_indirect_selection("cautious")
        'cautious'
    """
    if value not in INDIRECT_SELECTION:
        raise SelectionError(f"unknown indirect selection '{value}'",
                             hint=f"--indirect-selection: {', '.join(INDIRECT_SELECTION)}")
    return cast(IndirectSelection, value)


@dataclass(frozen=True)
class _Scope:
    """What one selection resolves against."""

    graph: Graph
    nodes: Mapping[str, NodeInfo]
    state: StatePredicate | None
    tests_of: Mapping[str, tuple[str, ...]]  # a model's key -> the tests that read it


# What a spec selects: (direct, pending). Pending tests read a selected model but wait for the
# rest of their models (cautious, buildable); an enclosing union or intersection may add them.
_Picked = tuple[set[str], set[str]]


def select(
    graph: Graph,
    nodes: Mapping[str, NodeInfo],
    select: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    *,
    state: StatePredicate | None = None,
    indirect_selection: str = "eager",
) -> list[str]:
    """Resolve --select/--exclude to node keys: the models in build order, then the tests.

    Args:
        graph: the DAG of the models.
        nodes: every node by key (a model's name; a test's unique id, e.g. `test.unique_x_id`).
        select: spec strings (each may hold several space-separated terms); empty = all nodes.
        exclude: spec strings to remove, expanded eagerly to the tests of the models they name.
        state: answers `state:` atoms for a node key; required only when they are used.
        indirect_selection: which tests of the selected models come with them.

    Returns:
        The selected models' keys in build order, then the selected tests' keys, sorted.
    """
    mode = ensure_indirect_selection(indirect_selection)
    tests_of: dict[str, list[str]] = {}
    for key, info in nodes.items():
        for parent in info.depends_on if info.test_type else ():
            tests_of.setdefault(parent, []).append(key)
    scope = _Scope(graph, nodes, state, {m: tuple(ts) for m, ts in tests_of.items()})
    specs = list(select or [])
    picked = _evaluate(scope, parse_spec(specs), mode) if specs else (set(nodes), set())
    if exclude:
        dropped = _evaluate(scope, parse_spec(exclude), "eager")
        picked = _combine(scope, [picked, dropped], _difference, mode)
    chosen = picked[0]
    tests = sorted(k for k in chosen if k in nodes and nodes[k].test_type)
    return graph.order(chosen) + tests


def _evaluate(scope: _Scope, union: tuple[Term, ...], mode: IndirectSelection) -> _Picked:
    terms = [
        _combine(scope, [_atom(scope, atom, mode) for atom in term], _intersection, mode)
        for term in union
    ]
    return _combine(scope, terms, _union, mode)


def _union(sets: list[set[str]]) -> set[str]:
    return set().union(*sets)


def _intersection(sets: list[set[str]]) -> set[str]:
    return set.intersection(*sets) if sets else set()


def _difference(sets: list[set[str]]) -> set[str]:
    return sets[0] - _union(sets[1:])


def _combine(
    scope: _Scope, parts: list[_Picked], op: Callable[[list[set[str]]], set[str]],
    mode: IndirectSelection,
) -> _Picked:
    """Combine the parts' direct sets with `op`, then take in the pending tests whose models
    the combination selects (dbt's `incorporate_indirect_nodes`)."""
    direct = op([d for d, _ in parts])
    pending = op([d | p for d, p in parts]) - direct
    if pending and mode in ("cautious", "buildable"):
        allowed = direct if mode == "cautious" else _with_ancestors(scope, direct)
        direct |= {t for t in pending if set(scope.nodes[t].depends_on) <= allowed}
    return direct, pending - direct


def _atom(scope: _Scope, atom: Atom, mode: IndirectSelection) -> _Picked:
    """The nodes one atom matches, their graph neighbours, and the tests that come with them."""
    matched = {k for k, info in scope.nodes.items() if _matches(atom, info, scope.state, k)}
    selected = set(matched)
    for key in matched:
        if atom.parents is not None:
            selected |= _ancestors(scope, key, None if atom.parents < 0 else atom.parents)
        if atom.children is not None:
            selected |= _descendants(scope, key, None if atom.children < 0 else atom.children)
        if atom.at:
            for d in _descendants(scope, key, None) | {key}:
                selected |= {d} | _ancestors(scope, d, None)
    if mode == "empty":
        return selected, set()
    buildable = _with_ancestors(scope, selected) if mode == "buildable" else selected
    direct, pending = set(selected), set()
    for test in {t for k in selected for t in scope.tests_of.get(k, ())} - selected:
        parents = set(scope.nodes[test].depends_on)
        if mode == "eager" or parents <= selected or parents <= buildable:
            direct.add(test)
        else:
            pending.add(test)
    return direct, pending


def _is_test(scope: _Scope, key: str) -> bool:
    info = scope.nodes.get(key)
    return info is not None and info.test_type is not None


def _ancestors(scope: _Scope, key: str, depth: int | None) -> set[str]:
    if not _is_test(scope, key):
        return scope.graph.ancestors(key, depth)
    if depth is not None and depth < 1:
        return set()
    parents = scope.nodes[key].depends_on
    further = None if depth is None else depth - 1
    return set(parents).union(*(scope.graph.ancestors(p, further) for p in parents))


def _descendants(scope: _Scope, key: str, depth: int | None) -> set[str]:
    return set() if _is_test(scope, key) else scope.graph.descendants(key, depth)


def _with_ancestors(scope: _Scope, keys: set[str]) -> set[str]:
    return set(keys).union(*(_ancestors(scope, k, None) for k in keys))


def _matches(atom: Atom, info: NodeInfo, state: StatePredicate | None, key: str) -> bool:
    if atom.method in ("name", "fqn"):
        return fnmatch.fnmatchcase(info.name, atom.value.lower())
    if atom.method == "tag":
        return any(fnmatch.fnmatchcase(t, atom.value) for t in info.tags)
    if atom.method == "path":
        want = PurePosixPath(atom.value.rstrip("/"))
        path = PurePosixPath(info.path)
        return path == want or want in path.parents or fnmatch.fnmatchcase(str(path), atom.value)
    if atom.method.startswith("config."):
        key_name = atom.method.split(".", 1)[1]
        value = (info.config or {}).get(key_name)
        values = value if isinstance(value, list | tuple) else [value]
        return any(str(v).lower() == atom.value.lower() for v in values)
    if atom.method == "test_type":
        if atom.value not in TEST_TYPES:
            raise SelectionError(
                f"unknown test type 'test_type:{atom.value}'",
                hint="test_type:generic (YAML tests), test_type:singular (.sql tests) or "
                "test_type:unit (unit_tests:)",
            )
        return info.test_type == atom.value
    if atom.method == "state":
        if state is None:
            raise SelectionError(
                f"'state:{atom.value}' needs a saved manifest to compare with",
                hint="pass --state PATH (a folder with a manifest.json from an earlier run)",
            )
        if atom.value not in ("modified", "new"):
            raise SelectionError(f"unknown state selector 'state:{atom.value}'",
                                 hint="use state:modified or state:new")
        return state(key, atom.value)
    raise SelectionError(
        f"unknown selector method '{atom.method}:'",
        hint="methods: tag:, path:, config.<key>:, state:, test_type:, or a model or test name",
    )
