"""Load test of the dashboard: N viewers at once, each loading every chart's data as a browser does.

    .venv/bin/python bench/load.py [--viewers 1,5,20,50] [--cold 1,5,20] [--no-mixed]
                                   [--slug fintech-onboarding] [--out bench/results/<name>.json]

Runs against the project's running stack (`runner up` and one `runner build` first). The
requests are the browser's own: headless Chromium opens the dashboard once and every
`POST /api/v1/chart/data` it sends (charts and native filters) is recorded over the DevTools
protocol; each viewer then sends those requests with its own login, at most 6 at a time (a
browser's connections per host). Per state and viewer count: per-chart latency p50/p95/max,
errors, whole-dashboard load time, throughput.

States:
  after-build  the cache as a build leaves it: emptied, then warmed (runner.local.superset_cache)
  warm         the same requests again, cache filled
  cold         cache emptied and not warmed (what `runner run` or a restarted Redis leaves)
Mixed: 20 viewers load the dashboard in a loop while `runner build` runs twice (sellers only,
then the defaults again); every load that starts after a build ends must equal Superset's forced
(uncached) answer: no errors, no stale numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.config import load_project_config, load_target  # noqa: E402
from runner.local import redis_server, superset_server  # noqa: E402
from runner.local.superset_cache import refresh_cache  # noqa: E402
from runner.superset.client import SupersetClient  # noqa: E402
from tests.integration.superset_fixtures import (  # noqa: E402
    _free_port,
    _login_cookie,
    _WebSocket,
)

BROWSER_SLOTS = 6  # HTTP/1.1 connections a browser opens per host
TIMEOUT = 120.0
RUNNER = Path(sys.executable).with_name("runner")

Request = tuple[str, dict[str, Any]]  # (path with query, JSON body)


def capture(base: str, login: tuple[str, str], slug: str, timeout: float = 180) -> list[Request]:
    """The chart-data requests headless Chromium sends while it opens the dashboard."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("Error: chromium is not installed (`runner setup` installs it as root)")
    cookie = _login_cookie(base, *login)
    port, profile = _free_port(), tempfile.mkdtemp(prefix="load-chromium-")
    proc = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
         f"--remote-debugging-port={port}", "--window-size=1600,7200", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        pages: list[dict[str, Any]] = []
        for _ in range(150):
            try:
                pages = [p for p in requests.get(f"http://127.0.0.1:{port}/json", timeout=2).json()
                         if p.get("type") == "page"]
            except requests.RequestException:
                pass
            if pages:
                break
            time.sleep(0.2)
        ws = _WebSocket(pages[0]["webSocketDebuggerUrl"], timeout=timeout)
        sent: dict[str, Request] = {}
        finished: set[str] = set()
        ids = iter(range(1, 1_000_000))

        def call(method: str, **params: Any) -> dict[str, Any]:
            """Send one command; record the network events that arrive before its answer."""
            n = next(ids)
            ws.send(json.dumps({"id": n, "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == n:
                    return dict(msg.get("result", {}))
                event = msg.get("params", {})
                if msg.get("method") == "Network.requestWillBeSent":
                    req = event["request"]
                    if "/api/v1/chart/data" in req["url"] and req.get("postData"):
                        parts = urllib.parse.urlsplit(req["url"])
                        path = parts.path + (f"?{parts.query}" if parts.query else "")
                        sent[event["requestId"]] = (path, json.loads(req["postData"]))
                elif msg.get("method") in ("Network.loadingFinished", "Network.loadingFailed"):
                    finished.add(event.get("requestId", ""))

        call("Network.enable")
        call("Network.setCookie", name="session", value=cookie, domain="127.0.0.1", path="/")
        call("Page.navigate", url=f"{base}/superset/dashboard/{slug}/")
        deadline, quiet_since = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            state = call("Runtime.evaluate", returnByValue=True, expression=(
                "document.querySelectorAll('.chart-container').length + ',' + "
                "document.querySelectorAll('.loading').length"))
            charts, loading = (int(x) for x in state["result"]["value"].split(","))
            settled = charts > 0 and loading == 0 and sent and set(sent) <= finished
            quiet_since = (quiet_since or time.monotonic()) if settled else None
            if quiet_since and time.monotonic() - quiet_since > 3:
                break
            time.sleep(0.5)
        ws.close()
        return list(sent.values())
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


class Viewer:
    """One logged-in user; `load` sends every request of the dashboard, 6 at a time."""

    def __init__(self, base: str, login: tuple[str, str]) -> None:
        self.base, self.login = base, login
        self.lock, self.generation = threading.Lock(), 0
        self._log_in()
        self.pool = ThreadPoolExecutor(BROWSER_SLOTS)
        self.local = threading.local()
        self.keep_data = False  # the mixed case compares rows; timed rounds do not parse them

    def _log_in(self) -> None:
        """A fresh token (Superset's expire after 15 min; a browser's session cookie does not)."""
        client = SupersetClient(self.base, *self.login)
        self.headers = dict(client.session.headers)
        self.cookies = client.session.cookies.get_dict()
        self.generation += 1

    def _session(self) -> requests.Session:
        if getattr(self.local, "generation", None) != self.generation:
            self.local.session = requests.Session()
            self.local.session.headers.update(self.headers)
            self.local.session.cookies.update(self.cookies)
            self.local.generation = self.generation
        return self.local.session

    def _one(self, req: Request, force: bool) -> dict[str, Any]:
        path, body = req
        began = time.perf_counter()
        try:
            generation = self.generation
            resp = self._session().post(self.base + path, json={**body, "force": force},
                                        timeout=TIMEOUT)
            if resp.status_code == 401:  # the token expired: log in again, as a browser is
                with self.lock:
                    if self.generation == generation:
                        self._log_in()
                began = time.perf_counter()
                resp = self._session().post(self.base + path, json={**body, "force": force},
                                            timeout=TIMEOUT)
            seconds = time.perf_counter() - began
            if resp.status_code != 200:
                return {"s": seconds, "error": f"HTTP {resp.status_code}"}
            results = resp.json()["result"]
            out: dict[str, Any] = {"s": seconds,
                                   "cached": all(r.get("is_cached") for r in results)}
            if self.keep_data:  # rows in any order: Spark's order may differ
                out["data"] = [sorted(json.dumps(row, sort_keys=True) for row in r["data"] or [])
                               for r in results]
            return out
        except (requests.RequestException, ValueError, KeyError) as exc:
            return {"s": time.perf_counter() - began, "error": type(exc).__name__}

    def load(self, reqs: list[Request], force: bool = False) -> dict[str, Any]:
        began = time.perf_counter()
        out = list(self.pool.map(lambda r: self._one(r, force), reqs))
        return {"started": began, "s": time.perf_counter() - began, "charts": out}


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * q + 0.999999) - 1))]


def run_round(viewers: list[Viewer], reqs: list[Request]) -> dict[str, Any]:
    """Every viewer loads the dashboard once, all starting together."""
    barrier = threading.Barrier(len(viewers))

    def go(v: Viewer) -> dict[str, Any]:
        barrier.wait()
        return v.load(reqs)

    began = time.perf_counter()
    with ThreadPoolExecutor(len(viewers)) as pool:
        loads = list(pool.map(go, viewers))
    wall = time.perf_counter() - began
    charts = [c for load in loads for c in load["charts"]]
    ok = [c["s"] for c in charts if "error" not in c]
    return {
        "viewers": len(viewers), "requests": len(charts), "errors": len(charts) - len(ok),
        "error_kinds": sorted({c["error"] for c in charts if "error" in c}),
        "cached": sum(bool(c.get("cached")) for c in charts),
        "p50": round(statistics.median(ok), 3) if ok else None,
        "p95": round(pct(ok, 0.95), 3) if ok else None,
        "max": round(max(ok), 3) if ok else None,
        "dashboard_p95": round(pct([ld["s"] for ld in loads], 0.95), 3),
        "wall": round(wall, 2), "throughput": round(len(ok) / wall, 1),
    }


def _loop(v: Viewer, reqs: list[Request], stop: threading.Event,
          loads: list[dict[str, Any]]) -> None:
    while not stop.is_set():
        loads.append(v.load(reqs))


def mixed(viewers: list[Viewer], reqs: list[Request], builds: list[list[str]],
          log: Path) -> list[dict[str, Any]]:
    """Viewers load in a loop while each build runs; loads after it must match forced data."""
    out = []
    for v in viewers:
        v.keep_data = True
    for args in builds:
        stop, loads = threading.Event(), list[dict[str, Any]]()
        threads = [threading.Thread(target=_loop, args=(v, reqs, stop, loads)) for v in viewers]
        for t in threads:
            t.start()
        began = time.perf_counter()
        with open(log, "a") as fh:
            code = subprocess.run([str(RUNNER), *args], cwd=ROOT, stdout=fh,
                                  stderr=subprocess.STDOUT, timeout=3600, check=False).returncode
        ended = time.perf_counter()
        time.sleep(15)  # loads that start after the build
        stop.set()
        for t in threads:
            t.join()
        truth = viewers[0].load(reqs, force=True)["charts"]
        assert not [c for c in truth if "error" in c], truth
        after = [ld for ld in loads if ld["started"] > ended]
        stale = sum(1 for ld in after for got, want in zip(ld["charts"], truth, strict=True)
                    if "error" not in got and got["data"] != want.get("data"))
        charts = [c for ld in loads for c in ld["charts"]]
        ok = [c["s"] for c in charts if "error" not in c]
        out.append({
            "build": " ".join(args), "exit_code": code, "build_seconds": round(ended - began, 1),
            "requests": len(charts), "errors": len(charts) - len(ok),
            "error_kinds": sorted({c["error"] for c in charts if "error" in c}),
            "p50": round(statistics.median(ok), 3) if ok else None,
            "p95": round(pct(ok, 0.95), 3) if ok else None,
            "max": round(max(ok), 3) if ok else None,
            "loads_after_build": len(after), "stale_after_build": stale,
        })
        print(f"  mixed: {out[-1]}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", default="1,5,20,50")
    parser.add_argument("--cold", default="1,5,20", help="viewer counts for the cold state")
    parser.add_argument("--no-mixed", action="store_true")
    parser.add_argument("--slug", default="fintech-onboarding")
    parser.add_argument("--out", type=Path, default=None)
    opts = parser.parse_args()
    cfg = load_project_config(ROOT)
    target = load_target(ROOT, cfg.profile or cfg.name, None, None)
    assert target.superset is not None and target.superset.managed, "needs the managed stack"
    base, port = target.superset.url.rstrip("/"), target.superset.cache_port
    login = superset_server.admin_login(ROOT, target.superset)[0]
    reqs = capture(base, login, opts.slug)
    print(f"{len(reqs)} chart-data requests per dashboard load (captured from Chromium)")
    counts = [int(n) for n in opts.viewers.split(",") if n]
    viewers = [Viewer(base, login) for _ in range(max([*counts, 0 if opts.no_mixed else 20]))]
    rows = []
    for n in counts:
        for state in ("after-build", "warm", "cold"):
            if state == "cold" and str(n) not in opts.cold.split(","):
                continue
            if state == "after-build":
                refresh_cache(ROOT, base, login, port)
            elif state == "cold":
                redis_server.flush_data(ROOT, port)
            row = {"state": state, **run_round(viewers[:n], reqs)}
            print(f"  {row}", flush=True)
            rows.append(row)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = opts.out or ROOT / "bench" / "results" / f"load-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    builds = [["build", "--vars", "{segments: [2]}", "-s", "int_user_metrics+"],
              ["build", "-s", "int_user_metrics+"]]
    mixed_rows = [] if opts.no_mixed else mixed(viewers[:20], reqs, builds,
                                                  out.with_suffix(".build.log"))
    out.write_text(json.dumps({
        "when": stamp, "machine": {"cpus": os.cpu_count(), "load": os.getloadavg(),
                                   "python": platform.python_version()},
        "gunicorn": {"workers": superset_server.WORKERS, "threads": superset_server.THREADS},
        "requests_per_load": len(reqs), "rounds": rows, "mixed": mixed_rows,
    }, indent=2))
    print("\n| state | viewers | requests | errors | p50 | p95 | max | dashboard p95 | charts/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['state']} | {r['viewers']} | {r['requests']} | {r['errors']} | {r['p50']} s "
              f"| {r['p95']} s | {r['max']} s | {r['dashboard_p95']} s | {r['throughput']} |")
    print(f"\nwritten to {out}")
    for v in viewers:
        v.pool.shutdown()


if __name__ == "__main__":
    main()
