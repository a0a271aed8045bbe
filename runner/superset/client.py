"""A logged-in session on Superset's REST API: every call has a timeout, every failure one error.

HTTP errors become `SupersetError` (with Superset's own message, secrets scrubbed) and an
unreachable or silent server `ServiceError`, here and nowhere else.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any

import requests

from runner.config import SUPERSET_PASSWORD_ENV
from runner.errors import ConfigError, ServiceError, SupersetError, scrub_secrets

if TYPE_CHECKING:
    from runner.config import SupersetTarget

DEFAULT_USER = "admin"
DEFAULT_TIMEOUT = 120.0
# Bare Rison ids: the strict set every decoder reads (anything else is quoted, always valid).
_RISON_ID = re.compile(r"^[A-Za-z_./~][A-Za-z0-9_./~-]*$")


def login_of(target: SupersetTarget, generated: str | None = None) -> tuple[str, str]:
    """The user and password of `target` (RUNNER_SUPERSET_* too); there is no default password.

    Args:
        target: the Superset target.
        generated: the password the runner generated for its managed Superset, used when the
            target names none.

    Returns:
        The user (default `admin`) and the password.

    Raises:
        ConfigError: neither the target nor the runner has a password.
    """
    user, password = target.credentials()
    password = password or generated
    if not password:
        raise ConfigError(
            f"no Superset password for {target.url}",
            hint=f"set ${SUPERSET_PASSWORD_ENV} (or superset.password in a profiles.yml outside "
            "the repo); a managed Superset gets a generated one from `runner up`",
        )
    return user or DEFAULT_USER, password


def to_rison(value: Any) -> str:
    """Encode a JSON-like value as Rison, the query format of Superset's list endpoints (`q=`).

    Example:
        >>> to_rison({"filters": [{"col": "slug", "opr": "eq", "value": "a b"}], "page": 0})
        "(filters:!((col:slug,opr:eq,value:'a b')),page:0)"
    """
    if value is None or isinstance(value, bool):
        return {None: "!n", True: "!t", False: "!f"}[value]
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        if _RISON_ID.match(value):
            return value
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, dict):
        return "(" + ",".join(f"{to_rison(str(k))}:{to_rison(v)}" for k, v in value.items()) + ")"
    if isinstance(value, list | tuple):
        return "!(" + ",".join(to_rison(v) for v in value) + ")"
    raise TypeError(f"cannot encode {type(value).__name__} as Rison")


class SupersetClient:
    """A logged-in REST session: JWT bearer, CSRF token and the session cookie it is tied to.

    Args:
        url: Superset's base URL.
        username, password: a database login (provider `db`).
        timeout: seconds each request may take (chart data runs a Spark query).
    """

    def __init__(
        self, url: str, username: str, password: str, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._secrets: list[str | None] = [password]
        self.session = requests.Session()
        tokens = self.request(
            "POST", "/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": True},
        )
        self.session.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        csrf = self.request("GET", "/api/v1/security/csrf_token/")["result"]
        self.session.headers.update({"X-CSRFToken": csrf, "Referer": self.url})

    def hide(self, secret: str) -> None:
        """Scrub `secret` too from every error message (e.g. a database password sent)."""
        self._secrets.append(secret)

    @classmethod
    def for_target(
        cls, target: SupersetTarget, login: tuple[str, str] | None = None
    ) -> SupersetClient:
        """Log in to the Superset of a target with `login`, else its credentials (`login_of`)."""
        return cls(target.url, *(login or login_of(target)))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request and return its JSON body ({} when empty).

        Raises:
            SupersetError: Superset answered with HTTP 4xx/5xx.
            ServiceError: Superset could not be reached or did not answer in time.
        """
        try:
            resp = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            raise ServiceError(
                f"cannot reach Superset at {self.url}",
                hint="start it with `runner up`, or fix superset.url in profiles.yml",
            ) from exc
        except requests.Timeout as exc:
            raise ServiceError(
                f"Superset at {self.url} did not answer {method} {path} within {self.timeout:.0f} s"
            ) from exc
        if resp.status_code >= 400:
            message = scrub_secrets(error_message(resp), self._secrets)
            hint = (
                "check superset.username/password (RUNNER_SUPERSET_USERNAME/_PASSWORD)"
                if resp.status_code == 401
                else None
            )
            raise SupersetError(f"{method} {path}: HTTP {resp.status_code}: {message}", hint=hint)
        return resp.json() if resp.content else {}

    def find(self, resource: str, **filters: Any) -> list[dict[str, Any]]:
        """List `resource` objects matching every `column=value` filter (operator `eq`)."""
        query = {
            "filters": [{"col": k, "opr": "eq", "value": v} for k, v in filters.items()],
            "page_size": 100,
        }
        return list(
            self.request("GET", f"/api/v1/{resource}/", params={"q": to_rison(query)})["result"]
        )

    def upsert(
        self,
        resource: str,
        uid: uuid.UUID,
        body: dict[str, Any],
        *,
        put_body: dict[str, Any] | None = None,
        **alt: Any,
    ) -> tuple[int, bool]:
        """PUT the object with uuid `uid` (or matching `alt` filters), else POST it with `uid`.

        Returns:
            The object's id and whether it was created.
        """
        found = self.find(resource, uuid=str(uid)) or (self.find(resource, **alt) if alt else [])
        if found:
            obj_id = int(found[0]["id"])
            self.request("PUT", f"/api/v1/{resource}/{obj_id}", json=put_body or body)
            return obj_id, False
        created = self.request("POST", f"/api/v1/{resource}/", json={**body, "uuid": str(uid)})
        return int(created["id"]), True

    def chart_data(self, chart_id: int) -> list[dict[str, Any]]:
        """The rows chart `chart_id` shows now: its saved query, from Superset's cache if there."""
        data = self.request("GET", f"/api/v1/chart/{chart_id}/data/")
        return [row for result in data["result"] for row in result["data"]]

    def dashboard_charts(self, slug: str) -> dict[str, int]:
        """Chart id by chart title for the dashboard `slug` ({} when there is no such one)."""
        found = self.find("dashboard", slug=slug)
        if not found:
            return {}
        charts = self.request("GET", f"/api/v1/dashboard/{found[0]['id']}/charts")["result"]
        return {str(c["slice_name"]): int(c["id"]) for c in charts}


def error_message(resp: requests.Response) -> str:
    """Superset's own message of an HTTP error, at most 800 characters.

    Spark errors come wrapped in the whole Java stack trace; only Spark's message is kept.
    """
    try:
        data = resp.json()
    except ValueError:
        return resp.text.strip()[:300] or resp.reason
    msg = json.dumps(data)
    if isinstance(data, dict):
        if "message" in data:
            raw = data["message"]
            msg = raw if isinstance(raw, str) else json.dumps(raw)
        elif data.get("errors"):
            msg = "; ".join(
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in data["errors"]
            )
    spark = re.search(r"errorMessage='(.*?)(?:\\n|', operationHandle)", msg, re.DOTALL)
    if spark:
        msg = spark.group(1)
    return msg if len(msg) <= 800 else msg[:800] + " ..."
