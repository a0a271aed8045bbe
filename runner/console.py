"""How the CLI shows a run: dbt's progress lines, the summary and errors, secrets scrubbed."""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Console
from rich.markup import escape

from runner.errors import scrub_secrets
from runner.results import (
    Event,
    Info,
    NodeFinished,
    NodeResult,
    NodeStarted,
    NodeStatus,
    ResourceType,
    RunResult,
)

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_SECRETS: list[str | None] = []
_KINDS = {ResourceType.TEST: "test", ResourceType.UNIT_TEST: "unit test"}


def set_secrets(secrets: list[str | None]) -> None:
    """The values to mask (`*****`) in everything printed from now on."""
    _SECRETS[:] = secrets


def scrub(text: str) -> str:
    return scrub_secrets(text, _SECRETS)


def log(message: str) -> None:
    console.print(f"{datetime.now().strftime('%H:%M:%S')}  {scrub(message)}")


def print_error(message: str) -> None:
    err_console.print(f"[red]Error: {escape(scrub(message))}[/red]")


def render_event(event: Event) -> None:
    """The callback the commands give the core: one dbt-style line per event."""
    if isinstance(event, Info):
        log(event.message)
    elif isinstance(event, NodeStarted):
        what = _KINDS.get(event.resource_type) or f"{event.materialized} model"
        label = f"{event.index} of {event.total} START {what} {event.name}"
        log(f"{escape(label)} {'.' * max(3, 70 - len(label))} [RUN]")
    elif isinstance(event, NodeFinished):
        label, tail = _finished_line(event.index, event.total, event.result)
        log(f"{escape(label)} {'.' * max(3, 70 - len(label))} [{tail}]")


def _finished_line(index: int, total: int, r: NodeResult) -> tuple[str, str]:
    if r.reused:
        return reused_line(index, total, r)
    if r.resource_type != ResourceType.MODEL:
        return test_line(index, total, r)
    if r.status == NodeStatus.SUCCESS:
        return (f"{index} of {total} OK {r.message} {r.name}",
                f"[green]OK[/green] in {r.seconds:.2f}s")
    if r.status == NodeStatus.SKIPPED:
        return (f"{index} of {total} SKIP {r.materialized} model {r.name} ({r.message})",
                "[yellow]SKIP[/yellow]")
    return (f"{index} of {total} ERROR creating {r.materialized} model {r.name}",
            f"[red]ERROR[/red] in {r.seconds:.2f}s")


def reused_line(index: int, total: int, r: NodeResult) -> tuple[str, str]:
    """A node not run because nothing it depends on changed: its last result, e.g.
    `3 of 9 REUSED table model big_spenders (3 rows)` or `4 of 9 REUSED WARN 2 test_name`."""
    head = f"{index} of {total} REUSED"
    if r.resource_type == ResourceType.MODEL:
        rows = f" ({r.rows} rows)" if r.rows is not None else ""
        return f"{head} {r.materialized} model {r.name}{rows}", "[cyan]REUSED[/cyan]"
    if r.status == NodeStatus.WARN:
        return f"{head} WARN {r.failures} {r.name}", "[yellow]REUSED WARN[/yellow]"
    return f"{head} PASS {r.name}", "[cyan]REUSED[/cyan]"


def test_line(index: int, total: int, r: NodeResult) -> tuple[str, str]:
    """dbt's test lines: PASS, WARN n, FAIL n, ERROR, SKIP (reason)."""
    head = f"{index} of {total}"
    kind = _KINDS[r.resource_type]
    if r.status == NodeStatus.SUCCESS:
        return f"{head} PASS {r.name}", f"[green]PASS[/green] in {r.seconds:.2f}s"
    if r.status == NodeStatus.SKIPPED:
        return f"{head} SKIP {kind} {r.name} ({r.message})", "[yellow]SKIP[/yellow]"
    if r.status == NodeStatus.WARN:
        tail = f"[yellow]WARN {r.failures}[/yellow] in {r.seconds:.2f}s"
        return f"{head} WARN {r.failures} {r.name}", tail
    if r.failures:
        tail = f"[red]FAIL {r.failures}[/red] in {r.seconds:.2f}s"
        return f"{head} FAIL {r.failures} {r.name}", tail
    return f"{head} ERROR {kind} {r.name}", f"[red]ERROR[/red] in {r.seconds:.2f}s"


def print_summary(run: RunResult, started: float) -> None:
    """dbt's end of run: elapsed time, each error or warning in full, then the counts."""
    models = sum(1 for r in run.results if r.resource_type == ResourceType.MODEL)
    tests = len(run.results) - models
    parts = [f"{models} models"] if models or not tests else []
    parts += [f"{tests} tests"] if tests else []
    console.print()
    log(f"Finished running {', '.join(parts)} in {time.perf_counter() - started:.2f}s.")
    for r in run.results:
        if r.status not in (NodeStatus.ERROR, NodeStatus.WARN):
            continue
        if r.resource_type != ResourceType.MODEL:
            warn = r.status == NodeStatus.WARN
            word, color = ("Warning", "yellow") if warn else ("Failure", "red")
            if r.status == NodeStatus.ERROR and not r.failures:
                word = "Error"
            kind = _KINDS[r.resource_type]
            err_console.print(f"\n[{color}]{word} in {kind} {r.name} ({r.path}):[/{color}]")
        else:
            err_console.print(f"\n[red]Error in model {r.name} ({r.path}):[/red]")
        err_console.print(escape(scrub(r.message)))
    count = sum(1 for r in run.results if r.reused)
    reused = f" (REUSED={count}: unchanged since their last build)" if count else ""
    console.print(
        f"\nDone. OK={run.count(NodeStatus.SUCCESS)} WARN={run.count(NodeStatus.WARN)} "
        f"ERROR={run.count(NodeStatus.ERROR)} SKIP={run.count(NodeStatus.SKIPPED)} "
        f"TOTAL={len(run.results)}{reused}"
    )
