"""What a run produces and reports: node statuses, results, and the progress events.

The core only builds these; the CLI renders the events (`runner.console`) and `runner.artifacts`
writes the results to `run_results.json`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class NodeStatus(StrEnum):
    """How a node ended. A test that ran: SUCCESS = passed, ERROR = failed (or broke), WARN =
    failed with severity warn."""

    SUCCESS = "success"
    ERROR = "error"
    WARN = "warn"
    SKIPPED = "skipped"


class ResourceType(StrEnum):
    MODEL = "model"
    TEST = "test"
    UNIT_TEST = "unit_test"


@dataclass(frozen=True)
class NodeResult:
    name: str
    status: NodeStatus
    message: str
    seconds: float = 0.0
    rows: int | None = None
    materialized: str = ""  # a test: "test"
    path: str = ""
    timing: dict[str, float] = field(default_factory=dict)
    resource_type: ResourceType = ResourceType.MODEL
    failures: int | None = None  # a test that ran: its failing rows
    reused: bool = False  # not run: its last result, unchanged since (`runner.reuse_record`)

    def __post_init__(self) -> None:  # accept the plain strings of run_results.json too
        object.__setattr__(self, "status", NodeStatus(self.status))
        object.__setattr__(self, "resource_type", ResourceType(self.resource_type))

    @property
    def unique_id(self) -> str:
        return f"{self.resource_type}.{self.name}"


@dataclass(frozen=True)
class RunResult:
    command: str
    started_at: datetime
    finished_at: datetime
    results: list[NodeResult]
    target: str
    phases: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False  # SIGINT/SIGTERM stopped the run; the rest is skipped
    signal: str = ""  # which one: "SIGINT" | "SIGTERM"
    errors: tuple[str, ...] = ()  # failures outside any node (a service died, the sync failed)

    @property
    def success(self) -> bool:
        return (
            not self.interrupted
            and not self.errors
            and not any(r.status == NodeStatus.ERROR for r in self.results)
        )

    def count(self, status: NodeStatus) -> int:
        return sum(1 for r in self.results if r.status == status)


@dataclass(frozen=True)
class NodeStarted:
    index: int
    total: int
    name: str
    materialized: str
    resource_type: ResourceType = ResourceType.MODEL


@dataclass(frozen=True)
class NodeFinished:
    index: int
    total: int
    result: NodeResult


@dataclass(frozen=True)
class Info:
    message: str


Event = NodeStarted | NodeFinished | Info
Callback = Callable[[Event], None]


def ignore_event(_: Event) -> None:
    """The default callback: report nothing."""
