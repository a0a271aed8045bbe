"""The warm engine: a runner process that keeps one SparkSession between commands and runs
`runner build`, `run` and `test` for its clients over the project's private Unix socket.

Every command runs in this process's main thread exactly as `runner` would run it (the same
click command, compile, project lock, InterruptWatch and run_results.json), with the client's
arguments, working folder and environment, and its output sent to the client. The build's
`create_session` finds the running session (`getOrCreate`), so it pays neither the JVM start
nor a cold JIT; temp views and SQL settings of the previous command are dropped first. A signal
the client passes on is raised here, so Ctrl-C cancels the Spark jobs as it would locally.

Started by `runner engine start` / `runner up` (`runner.engine.lifecycle`) as
`python -m runner.engine.daemon --project-dir P [--target T] [--profiles-dir D]`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, TextIO, cast

import click

from runner import cli
from runner.cassandra.connector import connector_spark_conf
from runner.config import load_project_config, load_target
from runner.engine.admission import SessionSpec, changed_modules, mismatch, session_spec
from runner.engine.protocol import (
    COMMANDS,
    EngineFiles,
    check_peer,
    choose_engine,
    engine_files,
    listen,
    peer_uid,
    receive,
    send,
)
from runner.errors import RunnerError, ServiceError
from runner.local import maven
from runner.paths import TargetLayout, check_target_path
from runner.spark.session import create_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

FIRST_MESSAGE_SECONDS = 10.0
LOADED_NS = time.time_ns()  # the runner modules imported above are the code on disk now


class _Terminated(BaseException):
    """SIGTERM outside a build's InterruptWatch: end the command as a killed process would."""


class Engine:
    """The daemon: its session, socket and the one command running at a time."""

    def __init__(self, project_dir: Path, files: EngineFiles, spark: SparkSession,
                 spec: SessionSpec) -> None:
        self.project_dir = project_dir
        self.files = files
        self.spark = spark
        self.spec = spec
        self.loaded_ns = LOADED_NS
        self.stopping = False
        self.running = False
        self.forwarded: int | None = None  # the signal a client passed on, until it is handled
        self.forwarded_terms = 0
        self.commands = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def serve(self, listener: socket.socket) -> None:
        """Answer clients one at a time until SIGTERM."""
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, self._on_sigint)
        while not self.stopping:
            conn = _accept(listener)
            if conn is None:
                continue
            with conn:
                try:
                    self.handle(conn, listener)
                except (OSError, ValueError) as exc:  # a client that went away or spoke nonsense
                    _log(f"connection dropped: {exc}")

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        forwarded, self.forwarded = self.forwarded == signum, None
        if not forwarded:
            self.stopping = True
        if self.running:
            raise _Terminated

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.forwarded = None
        if self.running:
            raise KeyboardInterrupt

    # -- one command --------------------------------------------------------------------------

    def handle(self, conn: socket.socket, listener: socket.socket) -> None:
        """Run one client's command; meanwhile, others are sent back to their own process."""
        conn.settimeout(FIRST_MESSAGE_SECONDS)
        reader, writer = conn.makefile("rb"), conn.makefile("wb")
        request = receive(reader)
        conn.settimeout(None)
        if request is None or request["type"] != "command":
            return
        argv = [str(a) for a in request["argv"]]
        cwd = Path(request["cwd"])
        env = {str(k): str(v) for k, v in request["env"].items()}
        with _environment(env, cwd):
            declined = self.admit(argv)
        if declined is not None:
            send(writer, {"type": "declined", "reason": declined})
            return
        lock = threading.Lock()
        out, err = _ClientStream(writer, "out", lock), _ClientStream(writer, "err", lock)
        self.commands += 1
        watcher = threading.Thread(target=self._watch, args=(reader, self.commands, out, err),
                                   name="engine-client", daemon=True)
        started = time.perf_counter()
        self._reset_session()
        terms = self.forwarded_terms
        busy = threading.Event()
        others = threading.Thread(target=_decline_while, args=(listener, busy),
                                  name="engine-busy", daemon=True)
        others.start()
        with _environment(env, cwd), _redirect(out, err):
            self.running = True
            watcher.start()
            try:
                code = _run_cli(argv)
            finally:
                self.running = False
                self.forwarded = None
                busy.set()  # before the client hears the exit code and sends the next command
                others.join()
        _log(f"runner {' '.join(argv)}: exit {code} in {time.perf_counter() - started:.1f}s")
        if code == 143 and self.forwarded_terms == terms:
            self.stopping = True  # our own SIGTERM (engine stop) cancelled the build
        with lock:
            send(writer, {"type": "exit", "code": code})

    def admit(self, argv: list[str]) -> str | None:
        """Why the engine does not run this command ("" when the target chose `process`);
        None when it runs it. Errors in the command line are left to the command itself."""
        if not argv or argv[0] not in COMMANDS:
            return f"the engine runs {', '.join(COMMANDS)} only"
        changed = changed_modules(self.loaded_ns)
        if changed:
            return (f"the runner's code changed since the engine started ({', '.join(changed[:3])}"
                    f"{', ...' if len(changed) > 3 else ''}); restart it: runner engine stop && "
                    "runner engine start")
        command = cli.main.commands[argv[0]]
        try:
            ctx = command.make_context(argv[0], list(argv[1:]), resilient_parsing=True)
            params = ctx.params
            project_dir = Path(params["project_dir"]).resolve()
            if project_dir != self.project_dir:
                return f"the engine serves {self.project_dir}, not {project_dir}"
            config = load_project_config(project_dir)
            target = load_target(project_dir, config.profile or config.name, params["target"],
                                 params["profiles_dir"])
            if choose_engine(target.spark.engine, os.environ) == "process":
                return ""
        except (click.ClickException, RunnerError, KeyError):
            return None  # the command reports it, as it would in a process of its own
        return mismatch(self.spec, session_spec(target))

    def _watch(self, reader: IO[bytes], command: int, out: _ClientStream,
               err: _ClientStream) -> None:
        """Pass the client's signals on while its command runs; its hang-up counts as SIGINT."""
        while True:
            try:
                message = receive(reader)
            except (OSError, ValueError):
                message = None
            if command != self.commands or not self.running:
                return
            if message is None:
                out.closed_by_client = err.closed_by_client = True
                self._raise(signal.SIGINT)
                return
            if message["type"] == "signal" and message.get("name") in ("SIGINT", "SIGTERM"):
                self._raise(signal.Signals[message["name"]])

    def _raise(self, sig: signal.Signals) -> None:
        if sig == signal.SIGTERM:
            self.forwarded_terms += 1
        self.forwarded = sig
        os.kill(os.getpid(), sig)

    def _reset_session(self) -> None:
        """Forget the previous command's temp views, cached data and SQL settings."""
        for table in self.spark.catalog.listTables():
            if table.isTemporary:
                self.spark.catalog.dropTempView(table.name)
        self.spark.catalog.clearCache()
        self.spark.sql("RESET")


def _accept(listener: socket.socket) -> socket.socket | None:
    """The next connection of this user within the poll interval; None if none came."""
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return None
    conn.settimeout(None)
    try:
        check_peer(peer_uid(conn), os.getuid())
    except ServiceError as exc:
        _log(exc.message)
        conn.close()
        return None
    return conn


def _decline_while(listener: socket.socket, done: threading.Event) -> None:
    """While a command runs, send others back to run in their own process (where the project
    lock tells them a build is running, as it would without the engine)."""
    while not done.is_set():
        conn = _accept(listener)
        if conn is None:
            continue
        with conn:
            conn.settimeout(FIRST_MESSAGE_SECONDS)
            try:
                receive(conn.makefile("rb"))  # the command; answered, not run
                send(conn.makefile("wb"), {"type": "declined",
                                           "reason": "the engine is running another command"})
            except (OSError, ValueError):
                pass


class _ClientStream(io.TextIOBase):
    """sys.stdout/sys.stderr of a command: text goes to the client as `out`/`err` messages."""

    def __init__(self, writer: IO[bytes], kind: str, lock: threading.Lock) -> None:
        self.writer = writer
        self.kind = kind
        self.lock = lock
        self.closed_by_client = False

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click tells text streams from binary ones this way
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text and not self.closed_by_client:
            with self.lock:
                try:
                    send(self.writer, {"type": self.kind, "text": text})
                except OSError:
                    self.closed_by_client = True
        return len(text)

    def isatty(self) -> bool:
        return True  # rich renders colours; the client removes them when it prints to no terminal

    def writable(self) -> bool:
        return True


def _run_cli(argv: list[str]) -> int:
    """Run `runner ARGV` with the real click command; its exit code."""
    try:
        cli.main.main(args=argv, prog_name="runner", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        sys.stderr.write(f"{code}\n")
        return 1
    except _Terminated:
        return 143
    except KeyboardInterrupt:  # a second Ctrl-C outside the command's own handling
        return 130
    except Exception as exc:  # noqa: BLE001 - the engine outlives a command's bug; exit 2 as cli does
        sys.stderr.write(f"Unexpected error in the runner engine: {type(exc).__name__}: {exc}\n")
        return 2
    return 0


@contextmanager
def _environment(env: Mapping[str, str], cwd: Path) -> Iterator[None]:
    """The client's environment variables and working folder, for one command."""
    saved, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    try:
        os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _redirect(out: io.TextIOBase, err: io.TextIOBase) -> Iterator[None]:
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = cast(TextIO, out), cast(TextIO, err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def start_session(project_dir: Path, target_name: str | None,
                  profiles_dir: Path | None) -> tuple[SparkSession, SessionSpec, str]:
    """The session the engine keeps: the target's settings, plus the Cassandra connector when
    the target has Cassandra (its jars can only be loaded at JVM start). Returns the session,
    what it can serve, and the target's name."""
    config = load_project_config(project_dir)
    target = load_target(project_dir, config.profile or config.name, target_name, profiles_dir)
    extra: dict[str, str] = {}
    if target.cassandra is not None:
        extra = connector_spark_conf(target.cassandra, maven.ensure_connector_jars(project_dir))
    warehouse = TargetLayout(check_target_path(project_dir, config.target_path)).spark_warehouse
    spark = create_session(target.spark, warehouse, extra, project_dir=project_dir)
    spark.range(1000).selectExpr("sum(id)").collect()
    return spark, session_spec(target, cassandra=bool(extra)), target.name


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runner.engine.daemon")
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--target", default=None)
    parser.add_argument("--profiles-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    project_dir = args.project_dir.resolve()
    files = engine_files(project_dir)
    started = time.perf_counter()
    spark, spec, target = start_session(project_dir, args.target, args.profiles_dir)
    listener = listen(files)
    engine = Engine(project_dir, files, spark, spec)
    info: dict[str, Any] = {
        "pid": os.getpid(), "target": target, "master": spec.master,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "socket": str(files.socket), "start_seconds": round(time.perf_counter() - started, 1),
    }
    files.info_file.write_text(json.dumps(info, indent=1) + "\n")
    _log(f"serving {project_dir} (target {target}, Spark {spec.master}) on {files.socket}")
    try:
        engine.serve(listener)
    finally:
        listener.close()
        files.socket.unlink(missing_ok=True)
        files.info_file.unlink(missing_ok=True)
        spark.stop()
        _log(f"stopped after {engine.commands} commands")


def _log(message: str) -> None:
    print(f"{datetime.now():%Y-%m-%d %H:%M:%S}  {message}", file=sys.__stdout__, flush=True)


if __name__ == "__main__":
    main()
