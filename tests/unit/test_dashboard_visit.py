"""Whether a dashboard is opened in Chromium after a build (runner.local.dashboard_visit), and
what the build prints about it (runner.publish)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from runner import publish
from runner.errors import ServiceError
from runner.local import dashboard_visit, superset_cache
from runner.local.dashboard_visit import Dashboard, Visit, dashboards_to_visit, viewed_chart
from runner.results import Event

BOARD = Dashboard(3, "fintech-onboarding", frozenset({7, 8, 9}))
OTHER = Dashboard(4, "data-quality", frozenset({10}))


def _browser(dashboard: int, chart: int) -> tuple[str, dict[str, Any]]:
    """A chart-data request as Superset's dashboard page sends it."""
    query = f"form_data={quote(json.dumps({'slice_id': chart}))}&dashboard_id={dashboard}"
    return query, {"datasource": {"id": 1, "type": "table"},
                   "form_data": {"slice_id": chart, "dashboardId": dashboard}}


@pytest.mark.parametrize(("requests_", "full_sync", "expected"), [
    # a fresh machine: nothing remembered, every dashboard is opened
    ([], False, ["fintech-onboarding", "data-quality"]),
    # every chart of both was viewed on its dashboard: the replay warms them, no browser
    ([_browser(3, 7), _browser(3, 8), _browser(3, 9), _browser(4, 10)], False, []),
    # one chart nobody opened: its dashboard only
    ([_browser(3, 7), _browser(3, 8), _browser(4, 10)], False, ["fintech-onboarding"]),
    # chart 9 viewed on another dashboard (or in explore) is not its first view here
    ([_browser(3, 7), _browser(3, 8), _browser(5, 9), _browser(4, 10)], False,
     ["fintech-onboarding"]),
    # a native filter's values (no chart) cover nothing
    ([("", {"datasource": {"id": 1, "type": "table"}}), _browser(3, 7), _browser(3, 8),
      _browser(3, 9)], False, ["data-quality"]),
    # after a full sync every dashboard is opened: its charts' queries may have changed
    ([_browser(3, 7), _browser(3, 8), _browser(3, 9), _browser(4, 10)], True,
     ["fintech-onboarding", "data-quality"]),
])
def test_dashboards_to_visit(requests_: list[tuple[str, dict[str, Any]]], full_sync: bool,
                             expected: list[str]) -> None:
    viewed = {viewed_chart(query, body) for query, body in requests_}
    found = dashboards_to_visit([BOARD, OTHER], viewed, full_sync=full_sync)
    assert [board.slug for board in found] == expected


def test_a_dashboard_without_charts_is_never_opened() -> None:
    empty = Dashboard(5, "empty", frozenset())
    assert dashboards_to_visit([empty], set(), full_sync=True) == []


def test_without_chromium_the_visit_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_visit, "find_chromium", lambda: None)
    with pytest.raises(ServiceError, match="Chromium is not installed"):
        dashboard_visit.visit_dashboards("http://127.0.0.1:1", ("admin", "x"), [BOARD])


def _lines(monkeypatch: pytest.MonkeyPatch, result: superset_cache.WarmResult) -> list[str]:
    monkeypatch.setattr(superset_cache, "refresh_cache", lambda *a, **k: result)
    events: list[Event] = []
    publish._refresh_cache(Path("/p"), "http://127.0.0.1:8088", ("admin", "x"), 6379,
                           events.append, dashboards=[3])
    return [str(getattr(event, "message", event)) for event in events]


def test_the_build_prints_one_line_per_visit(monkeypatch: pytest.MonkeyPatch) -> None:
    result = superset_cache.WarmResult(True, 0, 0, 0, 15.0,
                                       visits=(Visit("fintech-onboarding", 23, 21, 14.23),))
    assert _lines(monkeypatch, result) == [
        "Superset: dashboard fintech-onboarding opened once to warm 23 charts (21 rendered) "
        "in 14.2s",
        "Superset cache emptied and warmed: 0 chart queries in 15.0s",
    ]


def test_the_build_says_when_no_browser_could_warm(monkeypatch: pytest.MonkeyPatch) -> None:
    why = "Chromium is not installed (`runner setup` installs it)"
    result = superset_cache.WarmResult(True, 0, 0, 0, 0.1,
                                       unvisited=(("fintech-onboarding",), why))
    assert _lines(monkeypatch, result)[0] == (
        "Superset: Chromium is not installed (`runner setup` installs it); dashboard "
        "fintech-onboarding will be warmed on its first view")
