"""Push the dashboards to a running Grafana through its HTTP API, with grafana-client.

Idempotent: folders and dashboards that already hold what would be written are left alone (no
new dashboard version), the rest are created or overwritten. A Grafana whose version is not
the one the dashboards were generated for is refused before anything is written, and so is one
without the InfluxDB data source the panels name, unless its URL is given to create it.

The calls, as Grafana's HTTP API documents them: `GET /api/health` (the version),
`GET /api/datasources/uid/:uid` and `POST /api/datasources`, `GET /api/folders/:uid`,
`POST /api/folders` and `PUT /api/folders/:uid`, `GET /api/dashboards/uid/:uid` and
`POST /api/dashboards/db` with `overwrite`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from grafana_client.api import AsyncGrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException
from niquests.exceptions import RequestException

from dashboards import FOLDERS, GRAFANA_VERSION, Lang, dashboards
from dashboards._influxql import DATASOURCE_UID
from streetlight.errors import StreetlightError

logger = logging.getLogger(__name__)

COMMIT_MESSAGE = "streetlight dashboards push"
# what Grafana adds to a stored dashboard, left out when comparing it with ours
_STORED_ONLY = ("id", "version")


class PushError(StreetlightError):
    """The dashboards could not be pushed; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """A service account token, or a user name and password (HTTP basic)."""

    token: str | None = None
    user: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        if bool(self.token) == bool(self.user):
            raise PushError("give Grafana a token, or a user name and password (not both)")
        if self.user and not self.password:
            raise PushError(f"Grafana user {self.user!r} has no password")

    def for_client(self) -> str | tuple[str, str]:
        if self.token:
            return self.token
        return (self.user or "", self.password or "")


@dataclass(frozen=True, slots=True)
class InfluxSource:
    """The InfluxDB data source to create where Grafana has none of the panels' uid."""

    url: str
    database: str
    user: str | None = None
    password: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "InfluxDB",
            "uid": DATASOURCE_UID,
            "type": "influxdb",
            "access": "proxy",
            "url": self.url,
            "jsonData": {"dbName": self.database, "httpMode": "POST", "version": "InfluxQL"},
        }
        if self.user:
            body["user"] = self.user
            body["secureJsonData"] = {"password": self.password or ""}
        return body


@dataclass
class PushReport:
    """What a push did: counts of created, updated and unchanged, per kind."""

    grafana_version: str
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, outcome: str, what: str) -> None:
        self.outcomes[f"{kind} {outcome}"] += 1
        logger.info("%s %s: %s", kind, outcome, what)

    def summary(self) -> str:
        counts = ", ".join(f"{n} {what}" for what, n in sorted(self.outcomes.items()))
        return f"Grafana {self.grafana_version}: {counts}"


def version_fits(version: str) -> bool:
    """Whether a Grafana of `version` (``11.3.2``, ``11.3.0-pre``) is the one the dashboards
    were generated for (major and minor equal)."""
    parts = version.split("-", 1)[0].split(".")
    return ".".join(parts[:2]) == GRAFANA_VERSION


async def push(
    url: str,
    credentials: Credentials,
    *,
    langs: tuple[Lang, ...],
    influx: InfluxSource | None = None,
    request_timeout_s: float = 10.0,
) -> PushReport:
    """Push every dashboard of `langs` to the Grafana at `url`; see the module's docstring.
    Each request may take `request_timeout_s`; the whole push, 60 times that."""
    grafana = _Grafana(url, credentials, request_timeout_s)
    try:
        async with asyncio.timeout(request_timeout_s * 60):
            return await _push(grafana, langs, influx)
    except GrafanaException as exc:
        raise PushError(f"Grafana at {url}: {exc}") from exc
    except RequestException as exc:  # grafana-client lets connection errors through
        raise PushError(f"Grafana at {url}: {type(exc).__name__}: {exc}") from exc
    except TimeoutError as exc:
        raise PushError(f"Grafana at {url}: no answer in time") from exc
    finally:
        await grafana.close()


async def _push(
    grafana: _Grafana, langs: tuple[Lang, ...], influx: InfluxSource | None
) -> PushReport:
    version = await grafana.version()
    if not version_fits(version):
        raise PushError(
            f"Grafana at {grafana.url} is version {version}; these dashboards are built for "
            f"Grafana {GRAFANA_VERSION} (the grafana-foundation-sdk pin): use a Grafana "
            f"{GRAFANA_VERSION}.x, or rebuild the dashboards with the SDK for {version}"
        )
    report = PushReport(version)
    await _ensure_datasource(grafana, influx, report)
    for lang in langs:
        folder = FOLDERS[lang]
        await _ensure_folder(grafana, folder.uid, folder.title, report)
        for document in dashboards(lang).values():
            await _ensure_dashboard(grafana, document, folder.uid, report)
    return report


async def _ensure_datasource(
    grafana: _Grafana, influx: InfluxSource | None, report: PushReport
) -> None:
    if await grafana.get(f"/datasources/uid/{DATASOURCE_UID}") is not None:
        report.add("data source", "present", DATASOURCE_UID)
        return
    if influx is None:
        raise PushError(
            f"Grafana at {grafana.url} has no data source {DATASOURCE_UID!r}, which every panel "
            f"reads: provision dashboards/provisioning/datasources/influxdb.yaml, or give "
            f"--influx-url to create it"
        )
    await grafana.api.datasource.create_datasource(influx.body())
    report.add("data source", "created", f"{DATASOURCE_UID} -> {influx.url}")


async def _ensure_folder(grafana: _Grafana, uid: str, title: str, report: PushReport) -> None:
    existing = await grafana.get(f"/folders/{uid}")
    if existing is None:
        await grafana.api.folder.create_folder(title, uid=uid)
        report.add("folder", "created", title)
    elif existing.get("title") != title:
        await grafana.api.folder.update_folder(uid, title=title, overwrite=True)
        report.add("folder", "updated", title)
    else:
        report.add("folder", "unchanged", title)


async def _ensure_dashboard(
    grafana: _Grafana, document: dict[str, Any], folder_uid: str, report: PushReport
) -> None:
    uid = document["uid"]
    existing = await grafana.get(f"/dashboards/uid/{uid}")
    if existing is not None:
        stored = {k: v for k, v in existing["dashboard"].items() if k not in _STORED_ONLY}
        if stored == document and existing.get("meta", {}).get("folderUid") == folder_uid:
            report.add("dashboard", "unchanged", uid)
            return
    await grafana.api.dashboard.update_dashboard(
        {
            "dashboard": {**document, "id": None},
            "folderUid": folder_uid,
            "message": COMMIT_MESSAGE,
            "overwrite": True,
        }
    )
    report.add("dashboard", "created" if existing is None else "updated", uid)


class _Grafana:
    """grafana-client's async API, typed at its edge (the library is not annotated)."""

    def __init__(self, url: str, credentials: Credentials, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.api: Any = AsyncGrafanaApi.from_url(
            self.url, credential=credentials.for_client(), timeout=timeout
        )

    async def version(self) -> str:
        """From `GET /api/health`, which every Grafana answers without a login."""
        health = await self.api.client.GET("/health")
        if not isinstance(health, dict) or not isinstance(health.get("version"), str):
            raise PushError(f"{self.url}/api/health: not a Grafana health answer: {health!r}")
        return str(health["version"])

    async def get(self, path: str) -> dict[str, Any] | None:
        """`GET /api<path>`; None when Grafana answers 404."""
        try:
            answer = await self.api.client.GET(path)
        except GrafanaClientError as exc:
            if exc.status_code == 404:
                return None
            raise
        if not isinstance(answer, dict):
            raise PushError(f"{self.url}/api{path}: expected a JSON object, got {answer!r}")
        return answer

    async def close(self) -> None:
        await self.api.client.s.close()
