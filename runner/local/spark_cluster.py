"""A Spark standalone cluster on this machine: one master and its workers, each its own JVM.

`runner up` starts it for a target with `spark.managed: true`. The pyspark wheel ships Spark's
classes but not the sbin scripts, so the master and workers are plain `java -cp <pyspark>/jars/*`
processes. Workers launch executors in JVMs of their own (as on a real cluster), from
`SPARK_HOME` = the pyspark folder. Everything binds 127.0.0.1 (`SPARK_LOCAL_IP`), the web UIs
too. State, under `<project>/.runner/cluster/`:

    spark-master.pid, .log, .url       the master (url: spark://127.0.0.1:PORT)
    spark-worker-N.pid, .log, .url     worker N (url: its web UI)
    worker-N/                          its work folder: each application's jars and executor logs

The daemons get 256 MB of heap: they only keep books; executors take `spark.executor.memory`
from the application, within the memory each worker offers (`spark.workers[].memory`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit
from urllib.request import urlopen

from runner.config import SparkTarget, SparkWorker
from runner.errors import ConfigError
from runner.java import find_java_home, java_bin
from runner.local.processes import (
    LOOPBACK,
    ManagedProcess,
    ServiceInfo,
    ServiceStatus,
    refuse_busy_port,
    wait_ready,
)
from runner.paths import state_dir

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
DAEMON_JVM = ("-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
# Finished applications' folders (their copies of spark.jars) go after a day.
DAEMON_CONF = (
    "-Dspark.worker.cleanup.enabled=true",
    "-Dspark.worker.cleanup.appDataTtl=86400",
)


def cluster_dir(project_dir: Path) -> Path:
    """`<project>/.runner/cluster`: the local cluster's state (Spark and the Cassandra ring)."""
    return state_dir(project_dir, "cluster")


def master_address(master: str) -> tuple[str, int]:
    """Host and port of a managed master's URL, which must be spark://127.0.0.1:PORT.

    Example:
        >>> master_address("spark://127.0.0.1:7077")
        ('127.0.0.1', 7077)
    """
    parts = urlsplit(master)
    if parts.scheme != "spark" or parts.hostname not in (LOOPBACK, "localhost") or not parts.port:
        raise ConfigError(
            f"a managed Spark master must be spark://127.0.0.1:PORT, not {master}",
            hint="set spark.master: spark://127.0.0.1:7077, or managed: false for a remote one",
        )
    return LOOPBACK, parts.port


def master_process(project_dir: Path) -> ManagedProcess:
    """The master of the project's local cluster (its files; it may not run)."""
    folder = cluster_dir(project_dir)
    return ManagedProcess(
        "spark-master", "the Spark master", folder, "spark-master.pid", "spark-master.log",
        f"-Drunner.cluster.master={folder}",
    )


def worker_process(project_dir: Path, number: int) -> ManagedProcess:
    """Worker `number` (1, 2, ...) of the project's local cluster."""
    folder = cluster_dir(project_dir)
    name = f"spark-worker-{number}"
    return ManagedProcess(
        name, f"Spark worker {number}", folder, f"{name}.pid", f"{name}.log",
        f"-Drunner.cluster.{name}={folder}",
    )


@dataclass(frozen=True)
class ClusterInfo:
    """A running cluster: the master's URL and UI, the workers, and the seconds `up` took."""

    master: str
    ui: str
    workers: tuple[ServiceInfo, ...]
    seconds: float


def ensure_running(project_dir: Path, spark: SparkTarget, *, timeout: float = 90) -> ClusterInfo:
    """Reuse or start the master of `spark.master` and one worker per `spark.workers` entry.

    Ready means the master's UI lists every worker as ALIVE.

    Raises:
        ConfigError: the master is not spark://127.0.0.1:PORT.
        ServiceError: a port is taken by another process, or a daemon did not come up.
    """
    began = time.monotonic()
    host, port = master_address(spark.master)
    folder = cluster_dir(project_dir)
    folder.mkdir(parents=True, exist_ok=True)
    master = master_process(project_dir)
    ui = f"http://{LOOPBACK}:{spark.ui_port}"
    if master.live_pid() is None:
        refuse_busy_port(port, "spark.master")
        refuse_busy_port(spark.ui_port, "spark.ui_port")
        cmd = _daemon_cmd(
            MASTER_CLASS, master.marker,
            ["--host", host, "--port", str(port), "--webui-port", str(spark.ui_port)],
        )
        proc = master.spawn(cmd, url=spark.master, env=_env(), cwd=folder)
        wait_ready(
            lambda: None if _master_state(ui) else "no answer",
            lambda last: f"the Spark master did not answer on {ui} within {timeout:.0f} s",
            timeout=timeout, interval=0.5, remote_hint="", service=master, proc=proc,
        )
    # Workers start together: each JVM takes its own seconds to boot.
    spawned = [
        _spawn_worker(project_dir, number, worker, spark)
        for number, worker in enumerate(spark.workers, start=1)
    ]
    workers = tuple(
        _wait_worker(project_dir, number, proc, spark, timeout)
        for number, proc in enumerate(spawned, start=1)
    )
    return ClusterInfo(spark.master, ui, workers, time.monotonic() - began)


def _spawn_worker(
    project_dir: Path, number: int, worker: SparkWorker, spark: SparkTarget
) -> subprocess.Popen[bytes] | None:
    """Start worker `number` unless it runs; the process started, else None."""
    svc = worker_process(project_dir, number)
    if svc.live_pid() is not None:
        return None
    ui_port = spark.ui_port + number
    refuse_busy_port(ui_port, "spark.ui_port")
    work = cluster_dir(project_dir) / f"worker-{number}"
    work.mkdir(parents=True, exist_ok=True)
    args = [
        spark.master, "--host", LOOPBACK, "--cores", str(worker.cores),
        "--memory", worker.memory, "--webui-port", str(ui_port), "--work-dir", str(work),
    ]
    cmd = _daemon_cmd(WORKER_CLASS, svc.marker, args)
    return svc.spawn(cmd, url=f"http://{LOOPBACK}:{ui_port}", env=_env(), cwd=work)


def _wait_worker(
    project_dir: Path,
    number: int,
    proc: subprocess.Popen[bytes] | None,
    spark: SparkTarget,
    timeout: float,
) -> ServiceInfo:
    """Wait until the master lists worker `number` as ALIVE."""
    began = time.monotonic()
    svc = worker_process(project_dir, number)
    ui_port = spark.ui_port + number
    master_ui = f"http://{LOOPBACK}:{spark.ui_port}"
    wait_ready(
        lambda: None if _worker_alive(master_ui, ui_port) else "not registered",
        lambda last: f"Spark worker {number} did not register with {spark.master} within "
        f"{timeout:.0f} s ({last})",
        timeout=timeout, interval=0.5, remote_hint="", service=svc, proc=proc,
    )
    pid = svc.live_pid() if proc is None else proc.pid
    url = f"http://{LOOPBACK}:{ui_port}"
    return ServiceInfo(svc.name, url, pid, proc is not None, time.monotonic() - began, svc.log_file)


def stop(project_dir: Path, timeout: float = 20) -> list[str]:
    """Stop the workers, then the master, by PID file; the names of those that ran."""
    stopped = [svc.name for svc in _known(project_dir)[::-1] if svc.stop(timeout)]
    return stopped


def status(project_dir: Path) -> list[ServiceStatus]:
    """The master and every worker that has a PID file or ran before."""
    return [svc.status() for svc in _known(project_dir)]


def alive_workers(ui: str) -> list[dict[str, Any]]:
    """The workers the master's UI (`http://127.0.0.1:8080`) lists as ALIVE."""
    state = _master_state(ui) or {}
    return [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]


def _known(project_dir: Path) -> list[ManagedProcess]:
    folder = cluster_dir(project_dir)
    numbers = sorted(
        int(p.stem.rsplit("-", 1)[1]) for p in folder.glob("spark-worker-*.url")
    ) if folder.is_dir() else []
    known = [master_process(project_dir), *(worker_process(project_dir, n) for n in numbers)]
    return [svc for svc in known if svc.url_file.exists() or svc.pid_file.exists()]


def _daemon_cmd(main_class: str, marker: str, args: list[str]) -> list[str]:
    import pyspark  # pyspark takes ~1 s to import: only when a daemon starts

    jars = Path(pyspark.__file__).parent / "jars"
    java = java_bin(find_java_home())
    return [str(java), *DAEMON_JVM, *DAEMON_CONF, marker,
            "-cp", f"{jars}/*", main_class, *args]


def _env() -> dict[str, str]:
    import pyspark

    home = Path(pyspark.__file__).parent
    # A worker builds executor command lines with Spark's launcher, which needs the Scala
    # version that load-spark-env.sh would set; the wheel's jar names carry it.
    core = next(home.glob("jars/spark-core_*.jar"), None)
    scala = core.name.split("_", 1)[1].split("-", 1)[0] if core else "2.12"
    return {
        **os.environ,
        "JAVA_HOME": str(find_java_home()),
        "SPARK_HOME": str(home),
        "SPARK_SCALA_VERSION": scala,
        "SPARK_LOCAL_IP": LOOPBACK,
        "SPARK_NO_DAEMONIZE": "1",
        "MALLOC_ARENA_MAX": "4",
    }


def _master_state(ui: str) -> dict[str, Any] | None:
    try:
        with urlopen(f"{ui}/json/", timeout=3) as response:  # noqa: S310 - loopback http only
            value = json.loads(response.read())
    except (URLError, OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _worker_alive(master_ui: str, worker_ui_port: int) -> bool:
    suffix = f":{worker_ui_port}"
    return any(str(w.get("webuiaddress", "")).endswith(suffix) for w in alive_workers(master_ui))
