"""Edit a dashboard YAML file in place, line by line, so its comments and key order stay.

ruamel.yaml is not a dependency, so the edits are textual: the line of each key comes from
`parse_yaml`, a field's value is the key's line plus the more indented lines after it, and a new
value is written in flow style (`[a, b]`, `{k: v}`) wrapped at 100 columns, as the files are.
Each edit is checked by parsing the result: the field must read back as the value written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from runner.errors import ConfigError, Location
from runner.yaml_files import YamlMap, parse_yaml

WIDTH = 100
_PLAIN = re.compile(r"[A-Za-z_][\w ./()&+-]*")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}
_COMMENT = re.compile(r"\s+#\s.*$")


def to_flow(value: Any) -> str:
    """One value as YAML flow text: plain words where safe, else JSON (valid YAML).

    Example:
        >>> to_flow({"a": ".1%", "b": [1, True, None, "x y"]})
        '{a: ".1%", b: [1, true, null, x y]}'
    """
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_flow(str(k))}: {to_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_flow(v) for v in value) + "]"
    if isinstance(value, str):
        plain = _PLAIN.fullmatch(value) and value.lower() not in _RESERVED
        return value if plain and not value.endswith(" ") else json.dumps(value)
    return json.dumps(value)


def render_field(indent: int, key: str, value: Any, comment: str = "") -> list[str]:
    """`key: value` at `indent`, a list or mapping wrapped under its opening bracket.

    Example:
        >>> for line in render_field(2, "rows", ["a" * 40, "b" * 40, "c" * 20]):
        ...     print(line)
          rows: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,
                 cccccccccccccccccccc]
    """
    return _wrap(" " * indent + f"{key}: ", value, comment)


def _wrap(prefix: str, value: Any, comment: str = "") -> list[str]:
    if not isinstance(value, list | dict) or not value:
        return [prefix + to_flow(value) + comment]
    items = (
        [to_flow(v) for v in value]
        if isinstance(value, list)
        else [f"{to_flow(str(k))}: {to_flow(v)}" for k, v in value.items()]
    )
    opening, closing = ("[", "]") if isinstance(value, list) else ("{", "}")
    lines, line = [], prefix + opening
    for i, item in enumerate(items):
        piece = item + (closing if i == len(items) - 1 else ",")
        if len(line) + len(piece) + 1 > WIDTH and not line.endswith(opening):
            lines.append(line.rstrip())
            line = " " * (len(prefix) + 1)
        line += piece if line.endswith((opening, " ")) else " " + piece
    return [*lines, line + comment]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _value_end(lines: list[str], start: int) -> int:
    """The index after the last line of the value whose key is on line `start` (0-based)."""
    indent, end = _indent(lines[start]), start + 1
    while end < len(lines):
        line = lines[end]
        deeper = _indent(line) > indent or line.lstrip().startswith("- ")
        if line.strip() and not (deeper and _indent(line) >= indent):
            break
        end += 1
    while end - 1 > start and (not lines[end - 1].strip()
                               or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def _block_map(data: Any, keys: tuple[str, ...], shown: Path) -> YamlMap:
    node = data
    for key in keys:
        node = node[key]
    if not isinstance(node, YamlMap) or len(set(node.key_lines.values())) < len(node):
        raise ConfigError(
            f"{'.'.join(keys)}: cannot edit a one-line mapping in place",
            location=Location(shown, getattr(node, "line", None)),
            hint="write it one key per line (block style), then export again",
        )
    return node


def set_field(
    text: str, keys: tuple[str, ...], field: str, value: Any, shown: Path, *, remove: bool = False
) -> str:
    """`text` with `field` of the mapping at `keys` set to `value` (or removed).

    Example:
        >>> text = "charts:\\n  a:\\n    title: A  # kept\\n    metrics: [x,\\n              y]\\n"
        >>> print(set_field(text, ("charts", "a"), "metrics", ["z"], Path("d.yml")), end="")
        charts:
          a:
            title: A  # kept
            metrics: [z]
    """
    data = parse_yaml(text, shown)
    node = _block_map(data, keys, shown)
    lines = text.splitlines()
    if field in node:
        start = node.key_lines[field] - 1
        end = _value_end(lines, start)
        if remove:
            del lines[start:end]
        else:
            found = _COMMENT.search(lines[start]) if end == start + 1 else None
            comment = found.group(0) if found and '"' not in found.group(0) else ""
            lines[start:end] = render_field(_indent(lines[start]), field, value, comment)
    elif not remove:
        last = max(node.key_lines.values()) - 1
        end = _value_end(lines, last)
        lines[end:end] = render_field(_indent(lines[last]), field, value)
    out = "\n".join(lines) + "\n"
    check = parse_yaml(out, shown)
    for key in keys:
        check = check[key]
    if (check.get(field) if remove else check[field]) != (None if remove else value):
        raise ConfigError(f"{'.'.join(keys)}.{field}: the edit did not read back as written",
                          location=Location(shown))
    return out


def set_layout(text: str, sections: list[tuple[str, list[list[str]]]], shown: Path) -> str:
    """`text` with its top-level `layout:` list rewritten (the `layout:` line and its comment
    stay)."""
    data = parse_yaml(text, shown)
    lines = text.splitlines()
    start = data.key_lines["layout"] - 1
    end = _value_end(lines, start)
    new = [lines[start]]
    for title, rows in sections:
        new += [f"  - section: {to_flow(title)}", "    rows:"]
        for row in rows:
            new += _wrap("      - ", row)
    lines[start:end] = new
    return "\n".join(lines) + "\n"
