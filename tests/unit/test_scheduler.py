"""runner.scheduler: steps run when their inputs are done and are reported in plan order."""

from __future__ import annotations

import threading

import pytest

from runner.scheduler import Schedule


def _run(deps, *, workers=3, fail=(), stop_after=None, gate=None):
    """Run a schedule whose steps record their order; returns (events, ran, reported)."""
    events: list[tuple[str, int, str | None]] = []
    ran: list[int] = []
    lock = threading.Lock()

    def execute(i: int) -> str:
        if gate is not None:
            gate(i)
        with lock:
            ran.append(i)
        return "error" if i in fail else "ok"

    def decide(i: int, done: dict[int, str]) -> str | None:
        missing = [d for d in deps[i] if d not in done]
        assert not missing, f"step {i} decided before its inputs {missing}"
        return "skipped" if any(done[d] != "ok" for d in deps[i]) else None

    def stop() -> bool:
        return stop_after is not None and len(ran) >= stop_after

    reported = Schedule(
        deps, execute, decide,
        on_start=lambda i: events.append(("start", i, None)),
        on_finish=lambda i, r: events.append(("finish", i, r)),
        stop=stop,
    ).run(workers)
    return events, ran, reported


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_reports_every_step_in_plan_order(workers: int) -> None:
    deps = [set(), set(), {0}, {1}, {2, 3}, set()]
    events, ran, reported = _run(deps, workers=workers)
    assert reported == 6
    assert sorted(ran) == list(range(6))
    assert events == [(kind, i, "ok" if kind == "finish" else None)
                      for i in range(6) for kind in ("start", "finish")]


def test_a_step_runs_only_after_its_inputs() -> None:
    deps = [set(), {0}, {1}, set(), {3}]
    _, ran, _ = _run(deps, workers=4)
    for i, before in enumerate(deps):
        assert all(ran.index(d) < ran.index(i) for d in before)


def test_independent_steps_run_at_the_same_time() -> None:
    # step 0 waits until step 1 runs: only possible with two workers
    started = threading.Event()

    def gate(i: int) -> None:
        if i == 1:
            started.set()
        else:
            assert started.wait(10), "steps 0 and 1 did not run concurrently"

    _, ran, _ = _run([set(), set()], workers=2, gate=gate)
    assert sorted(ran) == [0, 1]


def test_a_skipped_step_is_finished_without_start_and_not_run() -> None:
    deps = [set(), {0}, {1}, set()]
    events, ran, _ = _run(deps, fail={0})
    assert 1 not in ran and 2 not in ran and 3 in ran
    assert ("start", 1, None) not in events
    assert [e for e in events if e[0] == "finish"] == [
        ("finish", 0, "error"), ("finish", 1, "skipped"), ("finish", 2, "skipped"),
        ("finish", 3, "ok"),
    ]


def test_stop_starts_nothing_more_and_reports_a_prefix() -> None:
    deps = [set(), {0}, {1}, {2}]
    events, ran, reported = _run(deps, workers=1, stop_after=2)
    assert ran == [0, 1]
    assert reported == 2
    assert [e[1] for e in events if e[0] == "finish"] == [0, 1]


def test_inputs_must_come_earlier() -> None:
    with pytest.raises(ValueError, match="step 0 waits for a later step"):
        Schedule([{1}, set()], str, lambda i, d: None, print, print)
