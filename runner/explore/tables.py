"""How the CLI shows previews, mart diffs and user explanations as Rich tables.

The tools (`preview`, `diff`, `explain` beside it) return data; only this module and
`runner.console` know Rich.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from runner.explore.diff import DiffState, MartDiff, summary_line
from runner.explore.explain import MAX_ROWS, Explanation, NodeRows
from runner.explore.preview import Preview
from runner.value_text import format_cell

TRANSPOSE_COLUMNS = 8  # wider rows read better as one line per column
TRANSPOSE_ROWS = 4


def render_preview(preview: Preview, limit: int) -> RenderableType:
    """The rows as a table; a wide preview of a few rows turns to one line per column."""
    if not preview.rows:
        return Text(f"{preview.title}: no rows")
    more = f"; more rows match, -n {limit * 10} shows more" if preview.more else ""
    title = f"{preview.title} ({len(preview.rows)} rows{more})"
    return _rows_table(preview, title)


def render_diffs(diffs: Sequence[MartDiff], limit: int) -> RenderableType:
    """An overview of every mart, then each changed mart's schema and value changes."""
    if not diffs:
        return Text("No table-like model selected (materialized table or cassandra).")
    overview = Table(title="Marts against their previous build", title_justify="left")
    for column in ("mart", "rows", "added", "removed", "changed", "columns changed"):
        overview.add_column(column, justify="right" if column in ("added", "removed",
                                                                   "changed") else "left")
    for d in diffs:
        overview.add_row(d.name, _rows_cell(d), *_counts(d), _changed_columns(d))
    parts: list[RenderableType] = [overview]
    for d in diffs:
        if d.state == DiffState.CHANGED:
            parts.append(_mart_details(d, limit))
    return Group(*parts)


def render_explanation(ex: Explanation) -> RenderableType:
    """Each source and model with its rows of the value, then the verdict in bold."""
    parts: list[RenderableType] = []
    for node in ex.nodes:
        parts.append(_node_header(node))
        if node.total:
            parts.append(_rows_table(node.rows, None))
    if ex.without_key:
        parts.append(Text(f"No {ex.key} column: {', '.join(ex.without_key)}", style="dim"))
    parts.append(Text.from_markup(f"\n[bold]{escape(ex.key)} {escape(ex.value)}: "
                                  f"{escape(ex.verdict)}[/bold]"))
    return Group(*parts)


# -- helpers ---------------------------------------------------------------------------------


def _rows_table(preview: Preview, title: str | None) -> Table:
    table = Table(title=title, title_justify="left")
    rows = preview.rows
    if len(preview.columns) > TRANSPOSE_COLUMNS and len(rows) <= TRANSPOSE_ROWS:
        table.add_column("column")
        table.add_column("type", style="dim")
        for i in range(len(rows)):
            table.add_column(f"row {i + 1}")
        for c, (column, type_) in enumerate(zip(preview.columns, preview.types, strict=True)):
            table.add_row(escape(column), type_, *[escape(format_cell(r[c])) for r in rows])
        return table
    for column in preview.columns:
        table.add_column(escape(column))
    for row in rows:
        table.add_row(*[escape(format_cell(v)) for v in row])
    return table


def _rows_cell(d: MartDiff) -> str:
    if d.state == DiffState.MISSING:
        return "not built"
    if d.state == DiffState.NEW:
        return f"{d.rows_after:,} (first build)"
    return f"{d.rows_before:,} → {d.rows_after:,}"


def _counts(d: MartDiff) -> list[str]:
    if d.state in (DiffState.MISSING, DiffState.NEW):
        return ["", "", ""]
    changed = "n/a" if d.note else f"{d.rows_changed:,}"
    return [f"{d.rows_added:,}", f"{d.rows_removed:,}", changed]


def _changed_columns(d: MartDiff) -> str:
    if d.state == DiffState.UNCHANGED:
        return "[green]unchanged[/green]"
    more = f", +{len(d.changed_columns) - 3}" if len(d.changed_columns) > 3 else ""
    return escape(", ".join(d.changed_columns[:3]) + more)


def _mart_details(d: MartDiff, limit: int) -> RenderableType:
    head = f"\n[bold]{escape(summary_line(d))}[/bold]"
    if d.key:
        head += f"  [dim]key: {escape(', '.join(d.key))}[/dim]"
    if d.built_before and d.built_after:
        head += (f"  [dim]previous build {d.built_before:%Y-%m-%d %H:%M}, "
                 f"this one {d.built_after:%Y-%m-%d %H:%M} UTC[/dim]")
    lines = [head]
    if d.note:
        lines.append(f"  [yellow]{escape(d.note)}[/yellow]")
    lines += [f"  + column {escape(c)} ({escape(t)})" for c, t in d.schema.added]
    lines += [f"  - column {escape(c)} ({escape(t)})" for c, t in d.schema.removed]
    lines += [f"  ~ column {escape(c)}: {escape(b)} → {escape(a)}" for c, b, a in d.schema.retyped]
    if d.changed_columns:
        shares = ", ".join(f"{c} {d.equal_share.get(c, 0.0):.1%}" for c in d.changed_columns)
        lines.append(f"  [dim]equal values: {escape(shares)}; other columns 100%[/dim]")
    lines += [f"  {escape(c.text)}" for c in d.changes]
    if d.changes_total > len(d.changes):
        lines.append(f"  [dim]... and {d.changes_total - len(d.changes):,} more changed values "
                     f"(-n 0 lists all)[/dim]")
    for word, keys, count in (("added", d.added_keys, d.rows_added),
                              ("removed", d.removed_keys, d.rows_removed)):
        if keys:
            listed = "; ".join(", ".join(format_cell(v) for v in k) for k in keys)
            more = f" and {count - len(keys):,} more" if count > len(keys) else ""
            lines.append(f"  rows {word}: {escape(listed)}{more}")
    return Text.from_markup("\n".join(lines))


def _node_header(node: NodeRows) -> Text:
    where = f"{node.kind}, {node.path}" if node.path else node.kind
    if not node.total:
        return Text.from_markup(f"[dim]{escape(node.name)} ({escape(where)}): no row[/dim]")
    plus = "+" if node.total >= MAX_ROWS else ""
    count = f"{node.total}{plus} row{'s' if node.total != 1 else ''}"
    shown = f", first {len(node.rows.rows)} shown" if node.rows.more else ""
    text = f"\n[bold]{escape(node.name)}[/bold] ({escape(where)}): {count}{shown}"
    if node.matched_on:
        text += f" [dim]matched on {escape(node.matched_on)}[/dim]"
    if node.quarantine:
        reasons = ", ".join(dict.fromkeys(node.quarantine))
        text += f", [yellow]{len(node.quarantine)} quarantined ({escape(reasons)})[/yellow]"
    return Text.from_markup(text)
