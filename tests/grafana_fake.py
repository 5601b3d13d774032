"""A Grafana of the tests' own: a loopback HTTP server that answers the calls of
`streetlight dashboards push` as Grafana's HTTP API documents them, and refuses (HTTP 400, and
a recorded violation) any request that the documentation does not allow.

What it checks, from the Grafana 11 HTTP API reference:
- every `/api/...` call but `/api/health` carries `Authorization: Bearer <token>` or Basic;
- `GET /api/health` -> `{"commit", "database", "version"}`;
- `GET /api/datasources/uid/:uid` -> the data source, or 404 `{"message": "Data source not
  found"}`; `POST /api/datasources` with `name`, `type`, `access`, `url` (and only documented
  keys);
- `GET /api/folders/:uid` -> the folder or 404; `POST /api/folders` with `title` and optional
  `uid`, `parentUid` (409 for a uid that exists); `PUT /api/folders/:uid` with `title` and
  `version` or `overwrite`;
- `GET /api/dashboards/uid/:uid` -> `{"dashboard", "meta"}` or 404; `POST /api/dashboards/db`
  with `dashboard` (its `id` null to create), optional `folderUid`, `message`, `overwrite`
  (without `overwrite` a dashboard whose uid exists is refused, 412).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

_DATASOURCE_KEYS = {
    "name", "type", "access", "url", "uid", "user", "database", "basicAuth", "basicAuthUser",
    "withCredentials", "isDefault", "jsonData", "secureJsonData",
}  # fmt: skip
_FOLDER_CREATE_KEYS = {"uid", "title", "parentUid"}
_FOLDER_UPDATE_KEYS = {"uid", "title", "version", "overwrite", "description"}
_DASHBOARD_KEYS = {"dashboard", "folderId", "folderUid", "message", "overwrite"}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGrafana:
    """Serve on a free loopback port: ``async with FakeGrafana() as grafana: grafana.url``."""

    version: str = "11.3.0"
    token: str = "glsa_test"
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None
    _next_id: int = 1

    async def __aenter__(self) -> FakeGrafana:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 5)

    def writes(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests if r.method != "GET"]

    # --- HTTP/1.1 -------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    break
                self.requests.append(request)
                status, answer = self._answer(request)
                body = json.dumps(answer).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> Request | None:
        line = await reader.readline()
        if not line:
            return None
        method, target, _version = line.decode().split(" ", 2)
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        raw = await reader.readexactly(length) if length else b""
        body = json.loads(raw) if raw else None
        return Request(method, target.split("?", 1)[0], headers, body)

    # --- the API --------------------------------------------------------------------------------

    def _refuse(self, request: Request, why: str) -> tuple[int, dict[str, Any]]:
        self.violations.append(f"{request.method} {request.path}: {why}")
        return 400, {"message": why}

    def _answer(self, request: Request) -> tuple[int, dict[str, Any]]:  # noqa: PLR0911 - a router
        method, path, body = request.method, request.path, request.body
        if path == "/api/health" and method == "GET":
            return 200, {"commit": "0123abc", "database": "ok", "version": self.version}
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {self.token}" and not auth.startswith("Basic "):
            self.violations.append(f"{method} {path}: no credentials")
            return 401, {"message": "Unauthorized"}
        parts = path.strip("/").split("/")
        match method, parts:
            case "GET", ["api", "datasources", "uid", uid]:
                found = self.datasources.get(uid)
                return (200, found) if found else (404, {"message": "Data source not found"})
            case "POST", ["api", "datasources"]:
                return self._create_datasource(request, body)
            case "GET", ["api", "folders", uid]:
                folder = self.folders.get(uid)
                return (200, folder) if folder else (404, {"message": "folder not found"})
            case "POST", ["api", "folders"]:
                return self._create_folder(request, body)
            case "PUT", ["api", "folders", uid]:
                return self._update_folder(request, uid, body)
            case "GET", ["api", "dashboards", "uid", uid]:
                stored = self.dashboards.get(uid)
                return (200, stored) if stored else (404, {"message": "Dashboard not found"})
            case "POST", ["api", "dashboards", "db"]:
                return self._save_dashboard(request, body)
        return self._refuse(request, "not a call of the documented API")

    def _create_datasource(self, request: Request, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or not {"name", "type", "access", "url"} <= set(body):
            return self._refuse(request, "a data source needs name, type, access and url")
        if set(body) - _DATASOURCE_KEYS:
            return self._refuse(
                request, f"undocumented keys {sorted(set(body) - _DATASOURCE_KEYS)}"
            )
        uid = body.get("uid") or f"ds{self._next_id}"
        self.datasources[uid] = {**body, "uid": uid, "id": self._next_id}
        self._next_id += 1
        return 200, {"datasource": self.datasources[uid], "message": "Datasource added"}

    def _create_folder(self, request: Request, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or not isinstance(body.get("title"), str):
            return self._refuse(request, "a folder needs a title")
        if set(body) - _FOLDER_CREATE_KEYS:
            return self._refuse(
                request, f"undocumented keys {sorted(set(body) - _FOLDER_CREATE_KEYS)}"
            )
        uid = body.get("uid") or f"f{self._next_id}"
        if uid in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        self.folders[uid] = {"id": self._next_id, "uid": uid, "title": body["title"], "version": 1}
        self._next_id += 1
        return 200, self.folders[uid]

    def _update_folder(self, request: Request, uid: str, body: Any) -> tuple[int, dict[str, Any]]:
        if uid not in self.folders:
            return 404, {"message": "folder not found"}
        if not isinstance(body, dict) or set(body) - _FOLDER_UPDATE_KEYS:
            return self._refuse(request, "undocumented folder update")
        folder = self.folders[uid]
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            return 412, {"message": "the folder has been changed by someone else"}
        folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
        return 200, folder

    def _save_dashboard(self, request: Request, body: Any) -> tuple[int, dict[str, Any]]:  # noqa: PLR0911
        if not isinstance(body, dict) or not isinstance(body.get("dashboard"), dict):
            return self._refuse(request, "no dashboard")
        if set(body) - _DASHBOARD_KEYS:
            return self._refuse(request, f"undocumented keys {sorted(set(body) - _DASHBOARD_KEYS)}")
        dashboard = body["dashboard"]
        uid = dashboard.get("uid")
        if not isinstance(uid, str) or not dashboard.get("title"):
            return self._refuse(request, "a dashboard needs a uid and a title")
        folder_uid = body.get("folderUid", "")
        if folder_uid and folder_uid not in self.folders:
            return 400, {"message": "folder not found"}
        existing = self.dashboards.get(uid)
        if existing and not body.get("overwrite"):
            return 412, {"message": "A dashboard with the same uid already exists"}
        if not existing and dashboard.get("id") is not None:
            return 404, {"message": "Dashboard not found"}
        number = existing["dashboard"]["id"] if existing else self._next_id
        version = existing["dashboard"]["version"] + 1 if existing else 1
        self._next_id += 0 if existing else 1
        stored = {**dashboard, "id": number, "version": version}
        self.dashboards[uid] = {"dashboard": stored, "meta": {"folderUid": folder_uid}}
        return 200, {"id": number, "uid": uid, "status": "success", "version": version,
                     "url": f"/d/{uid}/x", "slug": "x"}  # fmt: skip
