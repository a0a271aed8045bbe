"""Peak memory and CPU time of a process tree, sampled from /proc (Linux) while it runs.

The runner's JVM is a child of its Python process, so peak RSS is sampled per process and
reported for the Python process and its `java` descendants separately. VmHWM (the kernel's
high-water mark) is read at every sample, so the peak is exact up to the last sample.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class TreeStats:
    """What one process tree used: peak RSS (MiB) and CPU seconds, by kind of process."""

    python_peak_mib: float = 0.0
    jvm_peak_mib: float = 0.0
    python_cpu_s: float = 0.0
    jvm_cpu_s: float = 0.0
    jvm_started: bool = False
    _cpu: dict[int, tuple[bool, float]] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, float | bool]:
        return {
            "python_peak_mib": round(self.python_peak_mib, 1),
            "jvm_peak_mib": round(self.jvm_peak_mib, 1),
            "python_cpu_s": round(self.python_cpu_s, 2),
            "jvm_cpu_s": round(self.jvm_cpu_s, 2),
            "jvm_started": self.jvm_started,
        }


def _read_status(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _cpu_seconds(pid: int) -> float:
    stat = (PROC / str(pid) / "stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += tree.get(pid, [])
    return found


def sample(root: int, stats: TreeStats) -> None:
    """Fold one sample of `root`'s tree into `stats` (processes that vanished are skipped)."""
    for pid in _descendants(root):
        try:
            status = _read_status(pid)
            cpu = _cpu_seconds(pid)
        except (OSError, ValueError, IndexError):
            continue
        peak = int(status.get("VmHWM", "0 kB").split()[0]) / 1024
        is_java = status.get("Name", "") == "java"
        if is_java:
            stats.jvm_started = True
            stats.jvm_peak_mib = max(stats.jvm_peak_mib, peak)
        elif pid == root:
            stats.python_peak_mib = max(stats.python_peak_mib, peak)
        stats._cpu[pid] = (is_java, cpu)
    stats.jvm_cpu_s = sum(c for java, c in stats._cpu.values() if java)
    stats.python_cpu_s = sum(c for pid, (java, c) in stats._cpu.items() if pid == root)


def run_sampled(
    args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
    interval: float = 0.2,
) -> tuple[subprocess.CompletedProcess[str], TreeStats, float]:
    """Run `args`, sampling its tree every `interval` seconds; returns result, stats, wall s."""
    stats = TreeStats()
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    done = threading.Event()

    def watch() -> None:
        while not done.wait(interval):
            sample(proc.pid, stats)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    watcher.join()
    return subprocess.CompletedProcess(args, proc.returncode, output, ""), stats, wall
