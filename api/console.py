"""The operators' and crews' web console, served beside the API: the page at `/`, its files
under `/console/`.

The page is plain ES modules without a build step (`console/src/`). Its npm dependencies,
pinned by `console/package-lock.json` and installed by `make install` (`npm ci`), are served
from `/console/vendor/<package>/`, so the page loads nothing from another host: district
networks are often closed. The page reads only the API's JSON, with the token its login got.
`GET /console/config.json` says what the deployment chose for the map: a raster tile server
(`STREETLIGHT_API_TILE_URL`, optional; the district's own roads are the base without one).

Every file is answered with `Cache-Control: no-cache` (the browser keeps it, and asks with its
ETag whether it changed: an upgrade shows at the next load), and the page with a
Content-Security-Policy that lets it reach its own origin only, and the tile server if one is
set.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

from api.errors import ApiError
from api.settings import ApiSettings

logger = logging.getLogger(__name__)

# npm package -> its folder of files the page loads (node_modules/<package>/<folder>)
VENDOR = {"uplot": "dist"}
NO_CACHE = {"Cache-Control": "no-cache"}


class _Files(StaticFiles):
    """Static files, revalidated at every load."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(NO_CACHE)
        return response


def _policy(tile_url: str | None) -> str:
    images = "'self' data: blob:"
    if tile_url:
        parts = urlsplit(tile_url.replace("{", "").replace("}", ""))
        images += f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        f"img-src {images}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


def install(app: FastAPI, settings: ApiSettings) -> None:
    """Serve the console from `settings.api_console_dir`; say so if it or its packages are
    missing (the API serves on without it)."""
    directory = settings.api_console_dir
    pages = directory / "src"
    if not (pages / "index.html").is_file():
        logger.warning("no console at %s: / answers 404", directory)
        return
    headers = {**NO_CACHE, "Content-Security-Policy": _policy(settings.api_tile_url)}
    config = {"tile_url": settings.api_tile_url, "tile_attribution": settings.api_tile_attribution}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(pages / "index.html", headers=headers)

    @app.get("/console/config.json", include_in_schema=False)
    async def console_config() -> JSONResponse:
        return JSONResponse(config, headers=NO_CACHE)

    for package, folder in VENDOR.items():
        files = directory / "node_modules" / package / folder
        if files.is_dir():
            app.mount(f"/console/vendor/{package}", _Files(directory=files), name=package)
        else:
            logger.warning("console: npm package %s missing in %s: run `make install`",
                           package, directory / "node_modules")  # fmt: skip
            app.add_api_route(f"/console/vendor/{package}/{{path:path}}", _missing(package),
                              include_in_schema=False)  # fmt: skip
    app.mount("/console", _Files(directory=pages), name="console")


def _missing(package: str) -> Any:
    async def missing(_request: Request) -> Response:
        raise ApiError(
            503, "console_incomplete", f"the console's npm package {package} is missing: "
            "run make install"
        )  # fmt: skip

    return missing
