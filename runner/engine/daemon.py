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
import contextlib
import json
import os
import queue
import shlex
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

import click

from runner import cli
from runner.cassandra.connector import connector_spark_conf
from runner.config import load_project_config, load_target
from runner.engine.admission import SessionSpec, changed_modules, mismatch, session_spec
from runner.engine.connection import (
    ClientStream,
    accept_client,
    client_environment,
    command_problem,
    redirect_output,
)
from runner.engine.connection import log as _log
from runner.engine.messages import (
    Command,
    Declined,
    Error,
    Exit,
    MessageError,
    Signal,
    read_client_message,
    send_message,
)
from runner.engine.protocol import (
    ACCEPT_POLL_SECONDS,
    COMMANDS,
    EngineFiles,
    choose_engine,
    engine_files,
    listen,
)
from runner.errors import RunnerError
from runner.local import maven
from runner.lock import LockHolder
from runner.paths import TargetLayout, check_target_path
from runner.spark.session import create_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# A connection gets this long to send its command. It holds only its own thread meanwhile (others
# are served), so the deadline just frees a silent connection; it is long enough for a client
# slowed by a busy machine.
FIRST_MESSAGE_SECONDS = 60.0
LOADED_NS = time.time_ns()  # the runner modules imported above are the code on disk now


class _Terminated(BaseException):
    """SIGTERM outside a build's InterruptWatch: end the command as a killed process would."""


@dataclass(frozen=True)
class _Request:
    """A client's checked command, waiting for the main thread to run it."""

    conn: socket.socket
    reader: IO[bytes]
    writer: IO[bytes]
    command: Command
    client_pid: int
    claim: int  # the engine's claim this command holds (`Engine.claim`)


class Engine:
    """The daemon: its session, socket and the one command running at a time.

    A thread accepts connections and gives each one a thread of its own that reads and checks
    its command, so a client that connects and sends nothing (or nonsense) delays nobody. The
    main thread runs the commands, one at a time: signals reach only the main thread, and the
    command's environment and working folder are the process's. A command arriving while
    another is queued or running is declined at once (the client runs it in its own process,
    where the project lock names the build that holds it).
    """

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
        self.requests: queue.Queue[_Request] = queue.Queue()
        # The command queued or running, by number: others are declined meanwhile. A number,
        # not a flag: the main loop's release after a command must not free the claim of the
        # next one, which its client may send as soon as it has the exit code.
        self.claim: int | None = None
        self.claims = 0
        self.claim_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    def serve(self, listener: socket.socket) -> None:
        """Answer clients until SIGTERM."""
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, self._on_sigint)
        self.serve_requests(listener)

    def serve_requests(self, listener: socket.socket) -> None:
        """Accept connections in the background and run their commands here until `stopping`."""
        threading.Thread(target=self._accept_all, args=(listener,), name="engine-accept",
                         daemon=True).start()
        while not self.stopping:
            try:
                request = self.requests.get(timeout=ACCEPT_POLL_SECONDS)
            except queue.Empty:
                continue
            with request.conn:
                try:
                    self.handle(request)
                except OSError as exc:  # a client that went away
                    _log(f"connection dropped: {exc}")
                finally:
                    self._release(request.claim)
        with self.claim_lock:  # queued as the engine stopped: they run where they came from
            while not self.requests.empty():
                request = self.requests.get_nowait()
                with request.conn, contextlib.suppress(OSError):
                    send_message(request.writer, Declined(reason="the engine is stopping"))

    def _accept_all(self, listener: socket.socket) -> None:
        while not self.stopping:
            try:
                accepted = accept_client(listener)
            except OSError:  # the listener closed: the engine is stopping
                return
            if accepted is not None:
                threading.Thread(target=self.greet, args=accepted, name="engine-client",
                                 daemon=True).start()

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

    # -- one connection -------------------------------------------------------------------------

    def greet(self, conn: socket.socket, client_pid: int) -> None:
        """Read and check a connection's command (in its own thread); queue it for the main
        thread, or answer at once: an error for a bad message, `declined` while busy."""
        queued = False
        try:
            conn.settimeout(FIRST_MESSAGE_SECONDS)
            reader, writer = conn.makefile("rb"), conn.makefile("wb")
            try:
                message = read_client_message(reader)
                problem = command_problem(message)
            except TimeoutError:
                message, problem = None, f"no command within {FIRST_MESSAGE_SECONDS:.0f} s"
            except MessageError as exc:
                message, problem = None, str(exc)
            if problem is not None:
                _log(f"client pid {client_pid}: {problem}")
                send_message(writer, Error(message=f"runner engine: {problem}"))
            elif isinstance(message, Command):
                conn.settimeout(None)
                queued = self._queue(conn, reader, writer, message, client_pid)
                if not queued:
                    send_message(writer, Declined(reason="the engine is running another command"))
        except OSError as exc:  # the client went away
            _log(f"client pid {client_pid}: connection dropped: {exc}")
        finally:
            if not queued:
                conn.close()

    def _queue(self, conn: socket.socket, reader: IO[bytes], writer: IO[bytes],
               command: Command, client_pid: int) -> bool:
        """Claim the engine for `command` and queue it; False when another command has it or the
        engine is stopping."""
        with self.claim_lock:
            if self.claim is not None or self.stopping:
                return False
            self.claims += 1
            self.claim = self.claims
            self.requests.put(_Request(conn, reader, writer, command, client_pid, self.claim))
            return True

    def _release(self, claim: int) -> None:
        with self.claim_lock:
            if self.claim == claim:
                self.claim = None

    # -- one command --------------------------------------------------------------------------

    def handle(self, request: _Request) -> None:
        """Run one client's command, or decline it (another target, changed code)."""
        command, writer = request.command, request.writer
        argv, cwd, env = command.argv, Path(command.cwd), command.env
        try:
            with client_environment(env, cwd):
                declined = self.admit(argv)
        except OSError as exc:  # its working folder went away since the client sent it
            self._release(request.claim)
            send_message(writer, Error(message=f"runner engine: cannot use {cwd}: {exc}"))
            return
        if declined is not None:
            self._release(request.claim)
            send_message(writer, Declined(reason=declined))
            return
        lock = threading.Lock()
        out, err = ClientStream(writer, "out", lock), ClientStream(writer, "err", lock)
        self.commands += 1
        watcher = threading.Thread(target=self._watch,
                                   args=(request.reader, self.commands, out, err),
                                   name="engine-client", daemon=True)
        started = time.perf_counter()
        self._reset_session()
        terms = self.forwarded_terms
        holder = LockHolder(pid=request.client_pid, command=shlex.join(["runner", *argv]),
                            engine_pid=os.getpid())
        with client_environment(env, cwd), redirect_output(out, err):
            self.running = True
            watcher.start()
            try:
                code = _run_cli(argv, holder)
            finally:
                self.running = False
                self.forwarded = None
                # before the client hears the exit code and sends the next command
                self._release(request.claim)
        _log(f"runner {' '.join(argv)}: exit {code} in {time.perf_counter() - started:.1f}s")
        if code == 143 and self.forwarded_terms == terms:
            self.stopping = True  # our own SIGTERM (engine stop) cancelled the build
        with lock:
            send_message(writer, Exit(code=code))

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

    def _watch(self, reader: IO[bytes], command: int, out: ClientStream,
               err: ClientStream) -> None:
        """Pass the client's signals on while its command runs; its hang-up counts as SIGINT.
        A message of the wrong shape is answered with an error and changes nothing."""
        while True:
            try:
                message: Command | Signal | None = read_client_message(reader)
            except MessageError as exc:
                _answer_error(out, command, str(exc))
                continue
            except OSError:
                message = None
            if command != self.commands or not self.running:
                return
            if message is None:
                out.closed_by_client = err.closed_by_client = True
                self._raise(signal.SIGINT)
                return
            if isinstance(message, Signal):
                self._raise(signal.Signals[message.name])
            else:
                _answer_error(out, command, "a command is running on this connection already")

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


def _answer_error(out: ClientStream, command: int, problem: str) -> None:
    """Tell a client whose command runs that the engine could not use its last message."""
    _log(f"command {command}: {problem}")
    with out.lock, contextlib.suppress(OSError):
        send_message(out.writer, Error(message=f"runner engine: {problem}"))


def _run_cli(argv: list[str], holder: LockHolder) -> int:
    """Run `runner ARGV` with the real click command; its exit code. The project lock records
    `holder` (the client) as the command's (`obj` of the click context)."""
    try:
        cli.main.main(args=argv, prog_name="runner", standalone_mode=True, obj=holder)
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


if __name__ == "__main__":
    main()
