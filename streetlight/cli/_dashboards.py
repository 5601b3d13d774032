"""`streetlight dashboards write DIR | push`: the Grafana dashboards, as files or into a Grafana.

The arguments are declared here; `dashboards.cli` runs them (imported only then)."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

LANG_CHOICES = ("zh", "en", "all")


def add_parser(roles: Any) -> None:
    parser = roles.add_parser("dashboards", help="write or push the Grafana dashboards")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    write = verbs.add_parser(
        "write", help="write the dashboards' JSON and their provisioning file into DIR"
    )
    write.add_argument("dir", type=Path, metavar="DIR")
    write.add_argument("--lang", choices=LANG_CHOICES, default="all", help="default: all")
    write.set_defaults(handler=_lazy("run_write"))
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
    push.set_defaults(handler=_lazy("run_push"))


def _lazy(name: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        run: Any = getattr(importlib.import_module("dashboards.cli"), name)
        result: int = run(args)
        return result

    return handler
