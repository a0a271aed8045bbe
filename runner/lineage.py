"""Column-level lineage of compiled models, with sqlglot (Spark dialect).

For every output column of every model: the upstream columns its values are computed from,
traced through the model's CTEs and subqueries (`sqlglot.lineage`), with `select *` expanded
from the upstream relations' columns. Chained model by model, this leads each mart column back
to the raw source columns. Only values count: a column that a WHERE, JOIN ON or GROUP BY reads
is not a parent of the columns it filters or groups.

Relations are named as in the compiled SQL: a model by its name, a source by its view name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope, find_all_in_scope

DIALECT = "spark"
_TRACE_ERRORS = (SqlglotError, ValueError, KeyError)  # what sqlglot raises on SQL it cannot trace


@dataclass(frozen=True, order=True)
class Col:
    """One column of a relation."""

    relation: str
    name: str

    def __str__(self) -> str:
        return f"{self.relation}.{self.name}"


@dataclass(frozen=True)
class ModelColumns:
    """A model's output columns and, for each, the upstream columns its values come from."""

    name: str
    columns: tuple[str, ...]
    parents: Mapping[str, tuple[Col, ...]] = field(default_factory=dict)
    error: str | None = None  # why sqlglot could not trace it (then `parents` is empty)


@dataclass(frozen=True)
class ColumnGraph:
    """Column lineage of a project: source relations' columns and every model's columns."""

    sources: Mapping[str, tuple[str, ...]]
    models: Mapping[str, ModelColumns]

    def columns(self, relation: str) -> tuple[str, ...]:
        if relation in self.models:
            return self.models[relation].columns
        return tuple(self.sources.get(relation, ()))

    def parents(self, col: Col) -> tuple[Col, ...]:
        model = self.models.get(col.relation)
        return tuple(model.parents.get(col.name, ())) if model else ()

    def ancestors(self, col: Col) -> set[Col]:
        """Every column upstream of `col`, through every model."""
        seen: set[Col] = set()
        todo = list(self.parents(col))
        while todo:
            c = todo.pop()
            if c not in seen:
                seen.add(c)
                todo.extend(self.parents(c))
        return seen

    def raw_columns(self, col: Col) -> list[Col]:
        """The source columns `col` is computed from, sorted."""
        return sorted(c for c in self.ancestors(col) if c.relation in self.sources)


def trace(models: Sequence[tuple[str, str]], sources: Mapping[str, Sequence[str]]) -> ColumnGraph:
    """Trace every model's columns to the columns of the relations it reads.

    Args:
        models: (name, compiled SQL) pairs, every model after the models it reads.
        sources: the columns of each source relation, by the name the SQL uses.

    Example:
        >>> g = trace(
        ...     [("stg", "with t as (select *, upper(b) as c from raw) select a, c from t"),
        ...      ("mart", "select a + 1 as a1, c from stg")],
        ...     {"raw": ["a", "b"]},
        ... )
        >>> g.models["stg"].columns, g.parents(Col("mart", "a1"))
        (('a', 'c'), (Col(relation='stg', name='a'),))
        >>> [str(c) for c in g.raw_columns(Col("mart", "c"))]
        ['raw.b']
    """
    schema: dict[str, dict[str, str]] = {
        rel: dict.fromkeys(cols, "string") for rel, cols in sources.items()
    }
    traced: dict[str, ModelColumns] = {}
    for name, sql in models:
        traced[name] = trace_model(name, sql, schema)
        schema[name] = dict.fromkeys(traced[name].columns, "string")
    return ColumnGraph({r: tuple(c) for r, c in sources.items()}, traced)


def trace_model(name: str, sql: str, schema: Mapping[str, Mapping[str, str]]) -> ModelColumns:
    """One model's columns and their parents, given the columns of what it reads."""
    try:
        tree = qualify(
            sqlglot.parse_one(sql, read=DIALECT), schema=dict(schema), dialect=DIALECT,
            validate_qualify_columns=False, identify=False,
        )
        scope = build_scope(_split_structs(tree))
        nodes = lineage(None, tree, schema=dict(schema), dialect=DIALECT, scope=scope,
                        trim_selects=False, copy=False)
    except _TRACE_ERRORS as exc:
        return ModelColumns(name, _named_selects(sql), {}, f"{type(exc).__name__}: {exc}")
    parents: dict[str, tuple[Col, ...]] = {}
    for column, node in nodes.items():
        found = {
            Col(n.expression.name, _unquote(n.name.rsplit(".", 1)[-1]))
            for n in node.walk()
            if isinstance(n.expression, exp.Table)
        }
        parents[column] = tuple(sorted(found))
    return ModelColumns(name, tuple(nodes), parents)


def _split_structs(tree: exp.Expr) -> exp.Expr:
    """Give each field of a struct built in a CTE or subquery a column of its own,
    `<struct>.<field>`, and read `s.field` from it: sqlglot traces a field access to the whole
    struct. Works on qualified SQL. Union branches and the outer select keep their columns (they
    must line up / are the output).

    Example:
        >>> sql = "with r as (select named_struct('a', a, 'b', b) as s from t) select s.a from r"
        >>> trace([("m", sql)], {"t": ["a", "b"]}).parents(Col("m", "a"))
        (Col(relation='t', name='a'),)
    """
    root = build_scope(tree)
    if root is None:
        return tree
    fields_of: _Fields = {}
    for scope in root.traverse():  # inner scopes first
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        for dot in list(find_all_in_scope(select, exp.Dot)):
            base, field = dot.this, dot.expression
            if isinstance(base, exp.Column) and field.name in _fields(scope, base, fields_of):
                dot.replace(exp.column(f"{base.name}.{field.name}", table=base.table, quoted=True))
        if not (scope.is_root or isinstance(select.parent, exp.SetOperation)):
            fields_of[id(select)] = _add_field_columns(scope, select, fields_of)
    return tree


_Fields = dict[int, dict[str, list[str]]]  # id(select) -> its struct columns -> their fields


def _fields(scope: Scope, column: exp.Column, fields_of: _Fields) -> list[str]:
    """The fields of a struct column read from one of the scope's sources (if split)."""
    source = scope.sources.get(column.table)
    expr = source.expression if isinstance(source, Scope) else None
    return fields_of.get(id(expr), {}).get(column.name, [])


def _add_field_columns(
    scope: Scope, select: exp.Select, fields_of: _Fields
) -> dict[str, list[str]]:
    """Add `<struct>.<field>` columns for the structs a select builds or passes on."""
    out: dict[str, list[str]] = {}
    for projection in list(select.selects):
        if not isinstance(projection, exp.Alias):
            continue
        value = projection.this
        pairs: list[tuple[str, exp.Expr]] = []
        if isinstance(value, exp.Struct) and all(
            isinstance(f, exp.PropertyEQ) for f in value.expressions
        ):
            pairs = [(f.this.name, f.expression) for f in value.expressions]
        elif isinstance(value, exp.Column):
            pairs = [(f, exp.column(f"{value.name}.{f}", table=value.table, quoted=True))
                     for f in _fields(scope, value, fields_of)]
        if pairs:
            out[projection.alias] = [f for f, _ in pairs]
            for field, expr in pairs:
                alias = f"{projection.alias}.{field}"
                select.select(exp.alias_(expr.copy(), alias, quoted=True), copy=False)
    return out


def infer_columns(
    models: Mapping[str, str], sources: Mapping[str, Sequence[str]], names: Iterable[str]
) -> dict[str, tuple[str, ...] | None]:
    """The output columns of some models, cheaper than `trace`: a model's select list, with `*`
    expanded from the columns of what it reads (inferred the same way). None when unknown.

    Example:
        >>> infer_columns({"m": "select *, 1 as x from s"}, {"s": ["a"]}, ["m"])
        {'m': ('a', 'x')}
    """
    known: dict[str, tuple[str, ...] | None] = {r: tuple(c) for r, c in sources.items()}

    def columns(name: str) -> tuple[str, ...] | None:
        if name not in known:
            known[name] = _infer(name)
        return known[name]

    def _infer(name: str) -> tuple[str, ...] | None:
        try:
            tree = sqlglot.parse_one(models[name], read=DIALECT)
        except _TRACE_ERRORS:
            return None
        if not isinstance(tree, exp.Query):
            return None
        if not _has_star(tree):
            return tuple(tree.named_selects)
        schema: dict[str, object] = {}
        for table in tree.find_all(exp.Table):
            if table.name in models or table.name in known:
                cols = columns(table.name)
                if cols is None:
                    return None
                schema[table.name] = dict.fromkeys(cols, "string")
        try:
            qualified = qualify(
                tree, schema=schema, dialect=DIALECT, validate_qualify_columns=False
            )
        except _TRACE_ERRORS:
            return None
        names = tuple(qualified.named_selects) if isinstance(qualified, exp.Query) else ()
        return None if "*" in names else names

    return {n: columns(n) for n in names}


def expression_columns(expression: str) -> set[str]:
    """The column names a SQL expression reads (lambda parameters left out).

    Example:
        >>> sorted(expression_columns("SUM(drop_rate * users) / SUM(users)"))
        ['drop_rate', 'users']
        >>> expression_columns("COUNT(*)"), expression_columns("transform(a, v -> v + 1)")
        (set(), {'a'})
    """
    tree = sqlglot.parse_one(expression, read=DIALECT)
    params = {p.name for lam in tree.find_all(exp.Lambda) for p in lam.expressions}
    return {c.name for c in tree.find_all(exp.Column) if c.name not in params}


def _has_star(tree: exp.Query) -> bool:
    if isinstance(tree, exp.SetOperation):
        return _has_star(tree.left) or _has_star(tree.right)
    return isinstance(tree, exp.Select) and tree.is_star


def _named_selects(sql: str) -> tuple[str, ...]:
    try:
        tree = sqlglot.parse_one(sql, read=DIALECT)
    except _TRACE_ERRORS:
        return ()
    names = tree.named_selects if isinstance(tree, exp.Query) else []
    return tuple(n for n in names if n != "*")


def _unquote(name: str) -> str:
    return name.strip('"`')
