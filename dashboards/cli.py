"""`streetlight dashboards write|push` (arguments in streetlight/cli/_dashboards.py)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Literal

from pydantic import SecretStr

from dashboards import LANGS, Lang, write
from dashboards.push import Credentials, InfluxSource, PushError, push
from streetlight.cli._common import settings_and_logging
from streetlight.settings import CommonSettings, HttpUrlField


class DashboardSettings(CommonSettings):
    """`STREETLIGHT_GRAFANA_*` besides the common settings. No default credentials: a push
    without them is refused before anything is sent."""

    grafana_url: HttpUrlField | None = None
    grafana_token: SecretStr | None = None
    grafana_user: str | None = None
    grafana_password: SecretStr | None = None


def _langs(choice: Literal["zh", "en", "all"]) -> tuple[Lang, ...]:
    return LANGS if choice == "all" else (choice,)


def run_write(args: argparse.Namespace) -> int:
    for path in write(args.dir, _langs(args.lang)):
        print(path)
    return 0


def run_push(args: argparse.Namespace) -> int:
    settings = settings_and_logging(DashboardSettings)
    url = args.grafana_url or settings.grafana_url
    if not url:
        raise PushError("no Grafana to push to: give --grafana-url or STREETLIGHT_GRAFANA_URL")
    report = asyncio.run(
        push(
            url,
            credentials(args, settings),
            langs=_langs(args.lang),
            influx=_influx(args, settings),
        )
    )
    print(report.summary())
    return 0


def credentials(args: argparse.Namespace, settings: DashboardSettings) -> Credentials:
    """From --token-file, else STREETLIGHT_GRAFANA_TOKEN, else a user (--user or
    STREETLIGHT_GRAFANA_USER) with STREETLIGHT_GRAFANA_PASSWORD. There is no default."""
    password = settings.grafana_password.get_secret_value() if settings.grafana_password else None
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise PushError(f"--token-file {args.token_file}: {exc.strerror}") from exc
        if not token:
            raise PushError(f"--token-file {args.token_file} is empty")
        return Credentials(token=token)
    user = args.user or settings.grafana_user
    if user:
        if not password:
            raise PushError(f"Grafana user {user!r}: set STREETLIGHT_GRAFANA_PASSWORD")
        return Credentials(user=user, password=password)
    if settings.grafana_token:
        return Credentials(token=settings.grafana_token.get_secret_value())
    raise PushError(
        "no Grafana credentials: set STREETLIGHT_GRAFANA_TOKEN (a service account token), "
        "give --token-file, or a user (--user or STREETLIGHT_GRAFANA_USER) with "
        "STREETLIGHT_GRAFANA_PASSWORD"
    )


def _influx(args: argparse.Namespace, settings: DashboardSettings) -> InfluxSource | None:
    if not args.influx_url:
        return None
    password = settings.influx_password.get_secret_value() if settings.influx_password else None
    return InfluxSource(args.influx_url, settings.influx_db, settings.influx_user, password)
