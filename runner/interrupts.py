"""Ctrl-C (or a scheduler's SIGTERM) during a build: cancel the running Spark jobs, finish the
current step, stop cleanly.

PySpark's own SIGINT handler calls `cancelAllJobs()` on the py4j connection the main thread is
blocked on; that fails with "reentrant call", the job keeps running, and the action surfaces a
plain `Py4JError` that looks like a model error. While a build runs, the first SIGINT only sets a
flag and cancels the jobs from another thread (its own py4j connection), repeating the cancel until
the build stops, because one action may start several jobs. The running action then fails with a
cancellation, the build sees the flag and records the rest as skipped. A second signal raises
KeyboardInterrupt at once. SIGTERM is handled exactly like SIGINT, so a stopped build still writes
run_results.json and leaves no staged folder behind.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CANCEL_EVERY_SECONDS = 0.2
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class InterruptWatch:
    """Owns the SIGINT and SIGTERM handlers during a build (a no-op outside the main thread).

    Example:
        >>> with InterruptWatch() as watch:
        ...     watch.received
        False
    """

    def __init__(self) -> None:
        self.received = False
        self.signal_name = ""
        self._spark: SparkSession | None = None
        self._previous: dict[int, Any] = {}
        self._installed = False
        self._done = threading.Event()

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
            self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._installed:
            for sig, previous in self._previous.items():
                signal.signal(sig, previous)
            self._installed = False

    def attach(self, spark: SparkSession) -> None:
        """Cancel this session's jobs on SIGINT (and now, if one already arrived)."""
        self._spark = spark
        # Creating the SparkContext installs PySpark's handler over ours; take SIGINT back and
        # give PySpark's handler back on exit.
        if self._installed and signal.getsignal(signal.SIGINT) != self._handle:
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._handle)
        if self.received:
            self._start_cancelling()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received:
            raise KeyboardInterrupt
        self.received = True
        self.signal_name = signal.Signals(signum).name
        self._start_cancelling()

    def _start_cancelling(self) -> None:
        if self._spark is not None:
            threading.Thread(target=self._cancel_loop, name="runner-cancel", daemon=True).start()

    def _cancel_loop(self) -> None:
        from py4j.protocol import Py4JError  # py4j comes with pyspark: imported only when needed

        spark = self._spark
        assert spark is not None
        while True:
            try:
                spark.sparkContext.cancelAllJobs()
            except (Py4JError, OSError):  # the JVM is going away: nothing left to cancel
                return
            if self._done.wait(CANCEL_EVERY_SECONDS):
                return
