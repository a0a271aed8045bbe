"""Run a build's steps on a few threads as soon as their inputs are done; report them in order.

Spark runs the jobs of several threads at once on one session, so independent marts and tests
share the cores: a job whose stage has fewer tasks than cores, or that is busy planning on the
driver, no longer leaves the rest of the machine idle. Every decision and every report happens on
the calling thread, in plan order, so progress output and results read exactly as a sequential
run's would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

R = TypeVar("R")


class Schedule(Generic[R]):
    """Steps `0..n-1`, what each waits for, and how to run, skip and report them.

    Args:
        deps: for each step, the earlier steps whose results it needs first.
        execute: run step `i` (on a worker thread) and return its result.
        decide: given step `i` and the results so far, a result that replaces running it
            (a skip), or None to run it. Called on the calling thread.
        on_start: step `i` started (called in plan order, never for a skipped step).
        on_finish: step `i` finished with a result (called in plan order).
        stop: True once no further step may start (e.g. after SIGINT).
    """

    def __init__(
        self,
        deps: Sequence[set[int]],
        execute: Callable[[int], R],
        decide: Callable[[int, dict[int, R]], R | None],
        on_start: Callable[[int], None],
        on_finish: Callable[[int, R], None],
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        for i, before in enumerate(deps):
            if any(d >= i for d in before):
                raise ValueError(f"step {i} waits for a later step: {sorted(before)}")
        self.deps = deps
        self.execute = execute
        self.decide = decide
        self.on_start = on_start
        self.on_finish = on_finish
        self.stop = stop

    def run(self, workers: int) -> int:
        """Run every step with at most `workers` at a time; returns how many were reported.

        Fewer than all are reported only when `stop()` turned true: the steps that were running
        are waited for, and reporting ends at the first step that did not finish.
        """
        n = len(self.deps)
        done: dict[int, R] = {}
        running: dict[Future[R], int] = {}
        launched: set[int] = set()
        pending = list(range(n))
        reported = 0
        started = -1  # the last step whose on_start was called
        pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="runner-step")
        try:
            while True:
                # The lowest pending step always has its inputs done (they come before it), so
                # something runs until every step is done or `stop()` holds.
                for i in [] if self.stop() else list(pending):
                    if len(running) >= max(1, workers):
                        break
                    if all(d in done for d in self.deps[i]):
                        pending.remove(i)
                        skipped = self.decide(i, done)
                        if skipped is not None:
                            done[i] = skipped
                        else:
                            launched.add(i)
                            running[pool.submit(self.execute, i)] = i
                while reported < n and (reported in done or reported in launched):
                    if reported in launched and started < reported:
                        self.on_start(reported)
                        started = reported
                    if reported not in done:
                        break
                    self.on_finish(reported, done[reported])
                    reported += 1
                if reported == n or not running:
                    return reported
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    done[running.pop(future)] = future.result()
        finally:
            # A second Ctrl-C lands here with steps still running: do not wait for them.
            pool.shutdown(wait=not running, cancel_futures=True)
