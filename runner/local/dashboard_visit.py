"""Open each managed dashboard once in headless Chromium, so that its first view is cached.

Replaying remembered chart-data requests (`runner.local.superset_cache`) warms only what viewers
opened before: on a fresh machine, after a full sync (whose charts may ask other queries now) or
for a chart nobody opened, the first viewer waits for Spark (~27 s for the onboarding dashboard).
A browser visit asks exactly what a browser asks on first view (the dashboard's default filter
state included); the managed Superset's config remembers those requests like any viewer's and
the cache keeps their results, so later quick syncs replay them.

Chromium is Debian's (`runner setup` installs it), driven by Playwright, with a fresh profile and
the runner's admin session cookie from Superset's login form: the password never leaves this
process (no command line, no child's environment). Without Chromium or Playwright nothing is
visited and the dashboard is warmed on its first view.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import requests

from runner.child_env import child_env, runner_secrets_out_of_environ
from runner.errors import ServiceError, SupersetError
from runner.superset.client import SupersetClient

if TYPE_CHECKING:
    from playwright.sync_api import Page, Response

VISIT_BUDGET = 120.0  # seconds all visits of one warm-up may take together
QUIET = 10.0  # seconds without a chart-data request after which a page asks for nothing more
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage")
# Tall, so that Superset lays out (and loads) every chart, not only the first screen's.
VIEWPORT = {"width": 1600, "height": 4000}
_CHART_DATA = re.compile(r"/api/v1/chart/data/?$")
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass(frozen=True)
class Dashboard:
    """A managed dashboard: its Superset id, slug (or id when it has none) and chart ids."""

    id: int
    slug: str
    charts: frozenset[int]


@dataclass(frozen=True)
class Visit:
    """One dashboard opened: its charts, those whose data came back (HTTP 200), wall time."""

    slug: str
    charts: int
    rendered: int
    seconds: float


def find_chromium() -> Path | None:
    """The Chromium executable on PATH (Debian's `chromium`), or None."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


def viewed_chart(query: str, body: dict[str, Any]) -> tuple[int | None, int | None]:
    """The (dashboard id, chart id) a remembered chart-data request was made for.

    A browser sends `?form_data={"slice_id": N}&dashboard_id=D` and the same ids in the body's
    `form_data` (`slice_id`, `dashboardId`); either may be missing (explore, a native filter).

    Example:
        >>> viewed_chart('form_data=%7B%22slice_id%22%3A7%7D&dashboard_id=3', {})
        (3, 7)
        >>> viewed_chart('', {"form_data": {"slice_id": 7, "dashboardId": 3}})
        (3, 7)
        >>> viewed_chart('', {"datasource": {"id": 1, "type": "table"}})
        (None, None)
    """
    params = {name: values[0] for name, values in parse_qs(query).items()}
    raw_form = body.get("form_data")
    form: dict[str, Any] = raw_form if isinstance(raw_form, dict) else {}
    try:
        in_query = json.loads(params.get("form_data", "{}"))
    except ValueError:
        in_query = {}
    dashboard = _int(form.get("dashboardId")) or _int(params.get("dashboard_id"))
    chart = _int(form.get("slice_id")) or _int(in_query.get("slice_id")
                                               if isinstance(in_query, dict) else None)
    return dashboard, chart


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def dashboards_to_visit(dashboards: Iterable[Dashboard],
                        viewed: Collection[tuple[int | None, int | None]], *,
                        full_sync: bool) -> list[Dashboard]:
    """The dashboards a browser must open: all after a full sync (their charts' queries may have
    changed), else those with a chart no remembered request was made for on that dashboard.

    Example:
        >>> board = Dashboard(1, "onboarding", frozenset({7, 8}))
        >>> [d.slug for d in dashboards_to_visit([board], {(1, 7), (1, 8)}, full_sync=False)]
        []
        >>> [d.slug for d in dashboards_to_visit([board], {(1, 7), (2, 8)}, full_sync=False)]
        ['onboarding']
        >>> [d.slug for d in dashboards_to_visit([board], {(1, 7), (1, 8)}, full_sync=True)]
        ['onboarding']
    """
    return [board for board in dashboards
            if board.charts and (full_sync or not board.charts <= {
                chart for dash, chart in viewed if dash == board.id})]


def load_dashboards(client: SupersetClient, dashboard_ids: Iterable[int]) -> list[Dashboard]:
    """The managed dashboards with their charts, as Superset has them now.

    Raises:
        SupersetError, ServiceError: Superset refused or did not answer.
    """
    out = []
    for dash_id in dashboard_ids:
        dash = client.request("GET", f"/api/v1/dashboard/{dash_id}")["result"]
        charts = client.request("GET", f"/api/v1/dashboard/{dash_id}/charts")["result"]
        out.append(Dashboard(dash_id, str(dash.get("slug") or dash_id),
                             frozenset(int(c["id"]) for c in charts)))
    return out


def login_cookie(url: str, login: tuple[str, str], timeout: float = 30.0) -> str:
    """Superset's session cookie for `login`, from its login form (what a browser gets).

    Raises:
        SupersetError: the login was refused.
        ServiceError: Superset could not be reached.
    """
    session = requests.Session()
    try:
        page = session.get(f"{url}/login/", timeout=timeout).text
        form = {"username": login[0], "password": login[1]}
        if match := _CSRF.search(page):
            form["csrf_token"] = match.group(1)
        resp = session.post(f"{url}/login/", data=form, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise ServiceError(f"cannot log in to Superset at {url}: {type(exc).__name__}") from exc
    cookie = session.cookies.get("session")
    if resp.status_code >= 400 or not cookie or "/login" in resp.headers.get("Location", ""):
        raise SupersetError(f"Superset at {url} refused the runner's admin login "
                            f"(HTTP {resp.status_code})")
    return str(cookie)


def visit_dashboards(url: str, login: tuple[str, str], dashboards: list[Dashboard], *,
                     budget: float = VISIT_BUDGET) -> list[Visit]:
    """Open each dashboard in headless Chromium until every chart's data came back or the
    budget (for all of them) runs out.

    Raises:
        ServiceError: Chromium or Playwright is missing (the message says so), or Superset's
            login failed.
        SupersetError: Superset refused the login.
    """
    chromium = find_chromium()
    if chromium is None:
        raise ServiceError("Chromium is not installed (`runner setup` installs it)")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise ServiceError("Playwright is not installed (pip install playwright)") from exc
    url = url.rstrip("/")
    cookie = login_cookie(url, login)
    host = urlsplit(url).hostname or "127.0.0.1"
    deadline = time.monotonic() + budget
    visits = []
    # Playwright's driver and the browser copy os.environ: start them without the runner's secrets.
    with runner_secrets_out_of_environ():
        pw = sync_playwright().start()
    try:
        with runner_secrets_out_of_environ():
            env: dict[str, str | float | bool] = {**child_env()}
            browser = pw.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS),
                                         env=env, timeout=30_000)
        try:
            for board in dashboards:
                context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
                context.add_cookies([{"name": "session", "value": cookie, "domain": host,
                                      "path": "/"}])
                try:
                    visits.append(_visit(context.new_page(), url, board, deadline))
                except PlaywrightError as exc:
                    raise ServiceError(f"Chromium failed on dashboard {board.slug}: "
                                       f"{str(exc).splitlines()[0]}") from exc
                finally:
                    context.close()
        finally:
            browser.close()
    except PlaywrightError as exc:
        raise ServiceError(f"Chromium could not start: {str(exc).splitlines()[0]}") from exc
    finally:
        pw.stop()
    return visits


def _visit(page: Page, url: str, board: Dashboard, deadline: float) -> Visit:
    """Open one dashboard and wait for every chart's data (or the deadline)."""
    from playwright.sync_api import Error as PlaywrightError

    began = time.monotonic()
    pending: set[int] = set()  # ids of chart-data requests in flight
    answered: dict[int, int] = {}  # chart id -> HTTP status of its last data response
    active = [began]  # when a chart-data request was last sent or answered

    def on_request(req: Any) -> None:
        if req.method == "POST" and _CHART_DATA.search(urlsplit(req.url).path):
            pending.add(id(req))
            active[0] = time.monotonic()

    def on_response(resp: Response) -> None:
        req = resp.request
        if id(req) not in pending:
            return
        pending.discard(id(req))
        active[0] = time.monotonic()
        try:
            body = req.post_data_json or {}
        except (ValueError, PlaywrightError):
            body = {}
        chart = viewed_chart(urlsplit(req.url).query, body if isinstance(body, dict) else {})[1]
        if chart is not None:
            answered[chart] = resp.status

    def on_failed(req: Any) -> None:
        pending.discard(id(req))

    page.on("request", on_request)
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    left = max(deadline - time.monotonic(), 1.0)
    page.goto(f"{url}/superset/dashboard/{board.id}/", wait_until="commit",
              timeout=left * 1000)
    while time.monotonic() < deadline:
        if not pending and (board.charts <= set(answered)
                            or answered and time.monotonic() - active[0] > QUIET):
            break  # every chart answered, or the page asks for nothing more (a hidden tab)
        if urlsplit(page.url).path.startswith("/login"):
            raise SupersetError(f"Superset sent Chromium to its login page for {board.slug}")
        try:
            # Superset loads a chart once it is near the window: bring the whole page into view.
            page.evaluate("window.scrollTo(0, document.body ? document.body.scrollHeight : 0)")
        except PlaywrightError:
            pass  # the page is between documents (the redirect after login)
        page.wait_for_timeout(250)
    rendered = sum(answered.get(chart) == 200 for chart in board.charts)
    return Visit(board.slug, len(board.charts), rendered, time.monotonic() - began)
