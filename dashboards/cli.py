"""`streetlight dashboards write DIR | push`: the Grafana dashboards, as files or into a Grafana."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from dashboards import LANGS, Lang, write
from dashboards.push import Credentials, InfluxSource, PushError, push
from streetlight.cli import settings_and_logging
from streetlight.settings import CommonSettings, HttpUrlField

LANG_CHOICES = ("zh", "en", "all")


def add_parser(roles: Any) -> None:
    parser = roles.add_parser("dashboards", help="write or push the Grafana dashboards")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    write = verbs.add_parser(
        "write", help="write the dashboards' JSON and their provisioning file into DIR"
    )
    write.add_argument("dir", type=Path, metavar="DIR")
    write.add_argument("--lang", choices=LANG_CHOICES, default="all", help="default: all")
    write.set_defaults(handler=run_write)
    push = verbs.add_parser(
        "push",
        help="create or update the dashboards in a running Grafana (its version must be the "
        "dashboards'); credentials from STREETLIGHT_GRAFANA_TOKEN, or "
        "STREETLIGHT_GRAFANA_USER and STREETLIGHT_GRAFANA_PASSWORD",
    )
    push.add_argument("--grafana-url", help="default: STREETLIGHT_GRAFANA_URL")
    push.add_argument("--lang", choices=LANG_CHOICES, default="all", help="default: all")
    push.add_argument(
        "--token-file", type=Path, help="read the service account token from this file"
    )
    push.add_argument("--user", help="log in as this user (password: STREETLIGHT_GRAFANA_PASSWORD)")
    push.add_argument(
        "--influx-url",
        help="create the InfluxDB data source with this URL where Grafana has none "
        "(as STREETLIGHT_INFLUX_USER and STREETLIGHT_INFLUX_PASSWORD, if set)",
    )
    push.set_defaults(handler=run_push)


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
