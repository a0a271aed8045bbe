"""A standalone Spark master that cannot be reached fails the run in seconds, with one error.

Spark's standalone client waits 20 s for the master to accept an application and tries three
times before it gives up, and then leaves a stopped SparkContext behind, which fails later with
an unrelated error. Two checks replace that: a TCP connection to the master (refused or timed
out: no master there), then a watchdog that stops the driver JVM when the master has not
accepted the application `REGISTRATION_TIMEOUT` seconds after it asked (something
answers on the port but is no Spark master, or the master hangs). It counts from the moment
the driver's SparkEnv exists, just before the application registers, so a slow JVM start on a
busy machine is not taken for a silent master.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from runner.errors import ServiceError

if TYPE_CHECKING:
    from runner.config import SparkTarget

CONNECT_TIMEOUT = 10.0
REGISTRATION_TIMEOUT = 10.0


def is_standalone(master: str) -> bool:
    """Whether `master` is a standalone master URL.

    Example:
        >>> is_standalone("spark://127.0.0.1:7077"), is_standalone("local[*]")
        (True, False)
    """
    return master.startswith("spark://")


def check_master(target: SparkTarget, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise ServiceError when no master of a `spark://` URL accepts a TCP connection."""
    if not is_standalone(target.master):
        return
    for address in target.master.removeprefix("spark://").split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return
        except (OSError, ValueError):
            continue
    raise ServiceError(f"cannot reach the Spark master {target.master}", hint=_hint(target))


@contextmanager
def registration_watchdog(target: SparkTarget) -> Iterator[None]:
    """Around `getOrCreate()`: stop the driver JVM if the master does not take the application.

    Raises:
        ServiceError: the master did not accept the application in time.
    """
    if not is_standalone(target.master):
        yield
        return
    done = threading.Event()
    fired = threading.Event()
    quiet = _QuietAfter(fired)
    # py4j logs every call that fails once the JVM is stopped (with logging.exception, on root).
    logging.getLogger().addFilter(quiet)
    thread = threading.Thread(target=_watch, args=(done, fired), daemon=True)
    thread.start()
    try:
        yield
    except Exception:  # noqa: BLE001 - py4j errors after the JVM was stopped
        if fired.is_set():
            raise _no_registration(target) from None
        raise
    finally:
        done.set()
        if not fired.is_set():  # else py4j's threads keep failing on the stopped JVM: stay quiet
            logging.getLogger().removeFilter(quiet)
    if fired.is_set():
        raise _no_registration(target)


class _QuietAfter(logging.Filter):
    """Drops log records once `fired` is set."""

    def __init__(self, fired: threading.Event) -> None:
        super().__init__()
        self.fired = fired

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.fired.is_set()


def check_registered(target: SparkTarget, stopped: bool) -> None:
    """Raise when Spark gave up on the master itself and left a stopped SparkContext."""
    if stopped:
        raise _no_registration(target)


def _watch(done: threading.Event, fired: threading.Event) -> None:
    from pyspark import SparkContext

    while SparkContext._gateway is None or SparkContext._jvm is None:  # no driver JVM yet
        if done.wait(0.2):
            return
    env = SparkContext._jvm.org.apache.spark.SparkEnv
    while env.get() is None:  # SparkContext is still setting up, before it registers
        if done.wait(0.2):
            return
    if done.wait(REGISTRATION_TIMEOUT):
        return
    fired.set()
    proc = getattr(SparkContext._gateway, "proc", None)  # pyspark's own launch_gateway sets it
    if proc is not None:
        proc.kill()
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)


def _no_registration(target: SparkTarget) -> ServiceError:
    return ServiceError(
        f"the Spark master {target.master} did not accept the application within "
        f"{REGISTRATION_TIMEOUT:.0f} s",
        hint=_hint(target),
    )


def _hint(target: SparkTarget) -> str:
    if target.managed:
        return "the local cluster is not running: start it with `runner up -t <target>`"
    return "check spark.master in profiles.yml, that the master runs and that this machine " \
        "reaches it"
