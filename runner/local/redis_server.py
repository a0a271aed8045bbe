"""The local Redis: Superset's cache (chart data, filter state, explore form data).

Redis comes from Debian's own packages, unpacked without installing anything system-wide:
`runner setup` runs `apt-get download` for redis-server, redis-tools and the two libraries a
base system lacks (libjemalloc2, liblzf1), then `dpkg -x` into `.runner/redis/pkg/`. No system
service, no root, nothing outside the project. (PyPI has no maintained Redis server build.)

Closed by default: it binds 127.0.0.1 only (protected mode on); its one user, `default`, has a
generated password (`.runner/secrets/redis.password`, 0600) of which the config file keeps only
the SHA-256; admin commands (CONFIG, DEBUG, SHUTDOWN, MODULE, REPLICAOF, ...) are refused. It
writes nothing to disk (no RDB, no AOF): a restarted cache is an empty cache.

Databases: `USER_DB` holds what users make (filter state, explore form data, permalinks);
`DATA_DB` holds what is computed from the marts (chart data, Superset's metadata cache) and is
flushed by every build (`flush_data`).

State, under `<project>/.runner/redis/` (0700): pkg/ (the unpacked packages, its version in
pkg/version), redis.conf (0600), redis.pid, redis.log, redis.url.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

import redis

from runner.child_env import child_env
from runner.errors import ServiceError
from runner.local.processes import (
    LOOPBACK,
    ManagedProcess,
    ServiceInfo,
    ServiceStatus,
    open_log,
    refuse_busy_port,
    tail,
    wait_ready,
)
from runner.paths import ensure_private_dir, remove_tree, state_dir, state_root
from runner.secret_files import ensure_secret, secret_path, write_private

PACKAGES = ("redis-server", "redis-tools", "libjemalloc2", "liblzf1")
PASSWORD_FILE = "redis.password"
USER_DB, DATA_DB = 0, 1
MAX_MEMORY = "256mb"
TIMEOUT = 5.0  # seconds any call to Redis may take


def redis_dir(project_dir: Path) -> Path:
    """`<project>/.runner/redis`."""
    return state_dir(project_dir, "redis")


def redis_process(project_dir: Path) -> ManagedProcess:
    """The managed Redis of a project (its files; it may not run).

    Its command line is `redis-server <redis.conf>` (`set-proc-title no` keeps it), so the
    config's path tells a recycled PID from ours.
    """
    state = redis_dir(project_dir)
    return ManagedProcess("redis", "Redis", state, "redis.pid", "redis.log",
                          str(state / "redis.conf"))


def redis_password(project_dir: Path) -> str:
    """The password of the project's Redis, generated once into `.runner/secrets` (0600)."""
    return ensure_secret(password_file(project_dir))[0]


def password_file(project_dir: Path) -> Path:
    """`.runner/secrets/redis.password`: superset_config.py reads the password from here."""
    return secret_path(project_dir, PASSWORD_FILE)


def ensure_redis_binary(project_dir: Path) -> Path:
    """Download and unpack Debian's Redis into `.runner/redis/pkg` unless it is there.

    Returns:
        The `redis-server` executable.

    Raises:
        ServiceError: apt-get or dpkg is missing or failed, or the binary does not run.
    """
    pkg = redis_dir(project_dir) / "pkg"
    server = pkg / "usr" / "bin" / "redis-server"
    if server.exists() and (pkg / "version").is_file():
        return server
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise ServiceError(
                f"`{tool}` is not on PATH: the local Redis comes from Debian's packages",
                hint="run on Debian/Ubuntu, or use a target whose superset is not managed",
            )
    ensure_private_dir(pkg.parent)
    log = pkg.parent / "install.log"
    with tempfile.TemporaryDirectory(dir=pkg.parent) as tmp, open_log(log, append=False) as out:
        work = Path(tmp)
        _run(["apt-get", "download", *PACKAGES], work, out, log,
             hint="check the network, or `sudo apt-get update` if the packages are not found")
        unpacked = work / "pkg"
        for deb in sorted(work.glob("*.deb")):
            _run(["dpkg", "-x", str(deb), str(unpacked)], work, out, log)
        version = _version(unpacked / "usr" / "bin" / "redis-server")
        (unpacked / "version").write_text(version + "\n")
        remove_tree(pkg, [state_root(project_dir)])
        unpacked.rename(pkg)
    return server


def _run(cmd: list[str], cwd: Path, out: BinaryIO, log: Path, hint: str | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                              env=child_env(), timeout=600, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(f"`{' '.join(cmd[:2])}` took over 600 s", hint=f"see {log}") from exc
    if proc.returncode != 0:
        raise ServiceError(f"`{' '.join(cmd[:2])}` failed: {tail(log)}", hint=hint or f"see {log}")


def _lib_env(server: Path) -> dict[str, str]:
    """The unpacked libraries (jemalloc, lzf) come before the system's."""
    pkg = server.parents[2]
    return child_env({"LD_LIBRARY_PATH": str(pkg / "usr" / "lib" / "x86_64-linux-gnu")})


def _version(server: Path) -> str:
    """`7.0.15` from `redis-server --version`."""
    try:
        proc = subprocess.run([str(server), "--version"], capture_output=True, text=True,
                              env=_lib_env(server), timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceError(f"the unpacked redis-server does not run: {exc}") from exc
    if proc.returncode != 0 or "v=" not in proc.stdout:
        raise ServiceError(f"the unpacked redis-server does not run: {proc.stderr.strip()[-300:]}")
    return proc.stdout.split("v=", 1)[1].split()[0]


def config_text(state: Path, port: int, password: str) -> str:
    """redis.conf: loopback, the password's SHA-256, no admin commands, no persistence.

    Example:
        >>> text = config_text(Path("/p/.runner/redis"), 6379, "pw")
        >>> "bind 127.0.0.1" in text, "pw" in text.replace("port", "")
        (True, False)
    """
    digest = hashlib.sha256(password.encode()).hexdigest()
    return "\n".join([
        "# Written by runner/local/redis_server.py; edits are overwritten.",
        f"bind {LOOPBACK}", "protected-mode yes", f"port {port}",
        "daemonize no", "supervised no", "set-proc-title no", 'logfile ""',
        f"dir {state}", 'save ""', "appendonly no",
        f"maxmemory {MAX_MEMORY}", "maxmemory-policy allkeys-lru",
        "databases 2", "tcp-keepalive 60",
        # The one user: this password (hashed here), every key and command except admin ones.
        f"user default on #{digest} ~* &* +@all -@admin",
    ]) + "\n"


def client(project_dir: Path, port: int, db: int = DATA_DB) -> redis.Redis:
    """A redis-py client of the project's Redis (every call times out after `TIMEOUT` s)."""
    return redis.Redis(host=LOOPBACK, port=port, db=db, password=redis_password(project_dir),
                       socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)


def ensure_redis(project_dir: Path, port: int, *, timeout: float = 30) -> ServiceInfo:
    """Reuse or start the project's Redis on 127.0.0.1:`port`; ready means it answers PING.

    A running Redis with another config (port, password) is restarted.
    """
    began = time.monotonic()
    svc = redis_process(project_dir)
    url = f"redis://{LOOPBACK}:{port}"
    server = ensure_redis_binary(project_dir)
    ensure_private_dir(state_root(project_dir))
    conf = config_text(svc.state_dir, port, redis_password(project_dir))
    path = svc.state_dir / "redis.conf"
    pid = svc.live_pid()
    if pid is not None and path.is_file() and path.read_text() == conf:
        _wait_ping(project_dir, port, timeout, svc, None)
        return ServiceInfo("redis", url, pid, False, time.monotonic() - began, svc.log_file)
    if pid is not None:
        svc.stop()
    refuse_busy_port(port, "superset.cache_port")
    write_private(path, conf)
    proc = svc.spawn([str(server), str(path)], url=url, env=_lib_env(server), cwd=svc.state_dir)
    try:
        _wait_ping(project_dir, port, timeout, svc, proc)
    except ServiceError:
        svc.stop()
        raise
    return ServiceInfo("redis", url, proc.pid, True, time.monotonic() - began, svc.log_file)


def _wait_ping(project_dir: Path, port: int, timeout: float, svc: ManagedProcess,
               proc: subprocess.Popen[bytes] | None) -> None:
    def probe() -> str | None:
        try:
            client(project_dir, port).ping()
        except redis.RedisError as exc:
            return str(exc)
        return None

    wait_ready(probe, lambda last: f"Redis on 127.0.0.1:{port} did not answer PING within "
               f"{timeout:.0f} s: {last}", timeout=timeout, interval=0.2,
               remote_hint="", service=svc, proc=proc)


def flush_data(project_dir: Path, port: int) -> bool:
    """Empty the data cache (`DATA_DB`); False when no Redis of this project runs.

    Raises:
        ServiceError: Redis runs but refused or did not answer in time.
    """
    if redis_process(project_dir).live_pid() is None:
        return False
    try:
        client(project_dir, port).flushdb()
    except redis.RedisError as exc:
        raise ServiceError(f"emptying Superset's cache in Redis on 127.0.0.1:{port} failed: "
                           f"{exc}", hint=f"see {redis_process(project_dir).log_file}") from exc
    return True


def stop(project_dir: Path, timeout: float = 30) -> bool:
    """Stop the project's Redis by its PID file; whether it was running."""
    return redis_process(project_dir).stop(timeout)


def status(project_dir: Path) -> ServiceStatus:
    """Whether the project's Redis runs, and its version."""
    svc = redis_process(project_dir).status()
    version_file = redis_dir(project_dir) / "pkg" / "version"
    version = version_file.read_text().strip() if version_file.is_file() else "not installed"
    return ServiceStatus(svc.name, svc.running, svc.pid, svc.url,
                         f"Redis {version}; {svc.detail}")
