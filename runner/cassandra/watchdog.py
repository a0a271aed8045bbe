"""Stop the Spark jobs that write or read Cassandra as soon as Cassandra stops answering.

spark-cassandra-connector keeps going when its node dies: every remaining batch of the task is
formed, sent and logged as failed (3 k failures for 370 k rows, 20 s here; minutes at 100x),
and with a node that hangs instead of dying each batch waits for its request timeout. While a
`watched` block runs, a thread asks Cassandra for its version every `PROBE_INTERVAL` seconds on
the build's own driver session; after `PROBE_FAILURES` failed probes in a row it cancels the
block's Spark jobs (by job tag), and the block raises one ServiceError naming host and port.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from runner.cassandra.client import first_line
from runner.errors import ServiceError

if TYPE_CHECKING:
    from cassandra.cluster import Session
    from pyspark.sql import SparkSession

PROBE_INTERVAL = 2.0  # seconds between probes
PROBE_TIMEOUT = 5.0  # seconds a probe may take
PROBE_FAILURES = 2  # failed probes in a row that mean Cassandra is gone
PROBE_CQL = "SELECT release_version FROM system.local"
INTERRUPT_PROPERTY = "spark.job.interruptOnCancel"


class Lost:
    """What the probes found: why the last one failed (None: it answered), and whether the
    watchdog cancelled the jobs."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.cancelled = False


def probe(session: Session, lost: Lost) -> bool:
    """Ask Cassandra for its version; True (and the reason in `lost`) when it did not answer."""
    try:
        session.execute(PROBE_CQL, timeout=PROBE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any driver failure counts as no answer
        lost.reason = first_line(str(exc)) or type(exc).__name__
        return True
    lost.reason = None
    return False


@contextmanager
def watched(spark: SparkSession, session: Session, where: str, what: str) -> Iterator[None]:
    """Run the block's Spark jobs under a job tag; cancel them when Cassandra stops answering.

    Args:
        spark: the session whose jobs the block starts (from this thread).
        session: a driver session to the same Cassandra, used for the probes.
        where: host:port for the error message.
        what: what the block does, for the error message ("writing to ks.table").

    Raises:
        ServiceError: the probes failed and the block's jobs were cancelled.
    """
    context = spark.sparkContext
    tag = f"runner-cassandra-{uuid.uuid4().hex[:12]}"
    stop, lost = threading.Event(), Lost()

    def watch() -> None:
        failures = 0
        while not stop.wait(PROBE_INTERVAL):
            failures = failures + 1 if probe(session, lost) else 0
            if failures >= PROBE_FAILURES:
                lost.cancelled = True
                context.cancelJobsWithTag(tag)
                return

    context.addJobTag(tag)
    # a task waiting on a write slot of a hung node is interrupted, not left to its timeout
    interrupt = context.getLocalProperty(INTERRUPT_PROPERTY)
    context.setInterruptOnCancel(True)
    thread = threading.Thread(target=watch, name="runner-cassandra-watchdog", daemon=True)
    thread.start()
    try:
        yield
    except Exception:
        stop.set()
        thread.join(PROBE_TIMEOUT + PROBE_INTERVAL)
        # the block failed on its own: one more probe tells a dead Cassandra from a bad write
        if not lost.cancelled and not probe(session, lost):
            raise
        raise ServiceError(
            f"Cassandra at {where} stopped answering while {what}: {lost.reason}",
            hint="start it again (`runner up` for the managed dev node), then `runner retry`",
        ) from None
    finally:
        stop.set()
        thread.join(PROBE_TIMEOUT + PROBE_INTERVAL)
        context.removeJobTag(tag)
        context.setLocalProperty(INTERRUPT_PROPERTY, interrupt)  # type: ignore[arg-type] # None: unset
