"""Errors a user can fix. The CLI prints them without a traceback and exits 1.

RunnerError
├── ConfigError          project/profiles YAML missing or invalid, unknown target, bad --vars
├── CompilationError     Jinja error, unknown ref()/source(), bad config() call
├── CycleError           the models' ref() graph has a cycle
├── SelectionError       a --select/--exclude expression that cannot be parsed
├── SqlSyntaxError       a compiled model that sqlglot cannot parse
├── DataSourceError      a raw file that cannot be read
├── ExecutionError       Spark rejected a model (analysis error, runtime failure)
├── MaterializationError a model's output could not be stored (bad key, schema change)
├── ServiceError         a local service could not be started, or a remote one is unreachable
├── ProjectLockedError   another runner is building the same project
└── SupersetError        the Superset REST API refused a change
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Location:
    """Where in a source file an error points (1-based line and column)."""

    path: Path | str
    line: int | None = None
    col: int | None = None


class RunnerError(Exception):
    """Base of every user-fixable error.

    Args:
        message: what went wrong, in one sentence.
        location: the file, line and column the error points at, when known.
        hint: what to change to fix it (the setting, file or flag).
        source: the text of the file at `location`, to underline the offending line.
    """

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint
        self.source = source

    def __str__(self) -> str:
        return format_error(self)


class ConfigError(RunnerError):
    pass


class CompilationError(RunnerError):
    pass


class CycleError(RunnerError):
    pass


class SelectionError(RunnerError):
    pass


class SqlSyntaxError(RunnerError):
    pass


class DataSourceError(RunnerError):
    pass


class ExecutionError(RunnerError):
    pass


class MaterializationError(RunnerError):
    pass


class ServiceError(RunnerError):
    pass


class SupersetError(RunnerError):
    pass


class ProjectLockedError(RunnerError):
    pass


def format_error(err: RunnerError) -> str:
    """Render `path:line:col: message`, the offending line underlined, then `hint: ...`."""
    parts: list[str] = []
    loc = err.location
    if loc is not None:
        prefix = str(loc.path)
        if loc.line is not None:
            prefix += f":{loc.line}"
            if loc.col is not None:
                prefix += f":{loc.col}"
        parts.append(f"{prefix}: {err.message}")
        if err.source is not None and loc.line is not None:
            lines = err.source.splitlines()
            if 0 < loc.line <= len(lines):
                text = lines[loc.line - 1]
                parts.append(f"  {text}")
                col = max((loc.col or 1) - 1, 0)
                width = max(len(text.strip()) if loc.col is None else 1, 1)
                start = len(text) - len(text.lstrip()) if loc.col is None else col
                parts.append("  " + " " * start + "^" * width)
    else:
        parts.append(err.message)
    if err.hint:
        parts.append(f"hint: {err.hint}")
    return "\n".join(parts)


def scrub_secrets(text: str, secrets: list[str | None]) -> str:
    """Replace every non-empty secret in `text` with `*****`.

    Example:
        >>> scrub_secrets("login admin:hunter2 failed", ["hunter2", None])
        'login admin:***** failed'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "*****")
    return text
