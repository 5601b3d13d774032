"""Dashboards as code: the Grafana dashboards of the district, built with the Grafana Foundation
SDK (pinned to the Grafana of docker-compose.yml) and written as the JSON Grafana provisions.

One module per dashboard (`city_overview`, `maintenance`, `energy`, `acceptance`); every panel
reads the KPI measurements of docs/contract.md through the provisioned InfluxDB data source.
Chinese is the default set; an English set with its own uids (`...-en`) sits in a folder of its
own, so each user sees one language rather than both at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from dashboards import acceptance, city_overview, energy, maintenance
from dashboards._common import LANGS, Lang, Tr
from dashboards._influxql import ANNOTATION_QUERY_KEYS, DATASOURCE_UID

PROVISIONING = Path(__file__).resolve().parent / "provisioning"
DASHBOARDS_DIR = PROVISIONING / "dashboards"


def _sdk_grafana_version() -> str:
    """``11.3``: the Grafana version the installed SDK was generated for (its version reads
    ``<build stamp>!<grafana version>``)."""
    grafana = version("grafana-foundation-sdk").rpartition("!")[2]
    return ".".join(grafana.split(".")[:2])


GRAFANA_VERSION = _sdk_grafana_version()

BUILDERS: dict[str, Callable[[Tr], dash.Dashboard]] = {
    "city-overview": city_overview.build,
    "maintenance": maintenance.build,
    "energy": energy.build,
    "acceptance": acceptance.build,
}


@dataclass(frozen=True, slots=True)
class Folder:
    uid: str
    title: str


FOLDERS: dict[Lang, Folder] = {
    "zh": Folder("streetlight", "路灯监控"),
    "en": Folder("streetlight-en", "Street lighting (English)"),
}


def build(name: str, lang: Lang) -> dict[str, Any]:
    """One dashboard as the JSON object Grafana stores, its panels numbered in order."""
    built: model.Dashboard = BUILDERS[name](Tr(lang)).build()
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number
    document: dict[str, Any] = json.loads(JSONEncoder().encode(built))
    return document


def dashboards(lang: Lang) -> dict[str, dict[str, Any]]:
    """Every dashboard of a language, by file name (without ``.json``)."""
    return {name: build(name, lang) for name in BUILDERS}


def dashboard_text(document: dict[str, Any]) -> str:
    """The committed form: sorted keys, two-space indent, UTF-8 text, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


PROVIDERS_FILE = "streetlight.yaml"


def providers_yaml(langs: tuple[Lang, ...] = LANGS) -> str:
    """Grafana's dashboard provisioning file: one provider, and folder, per language, reading
    ``<provisioning>/dashboards/<lang>``. ``$GF_PATHS_PROVISIONING`` is the provisioning
    directory Grafana was started with (the Docker image sets it: /etc/grafana/provisioning)."""
    lines = [
        "# Written by `streetlight dashboards write` (dashboards/__init__.py): do not edit.",
        "# One provider and folder per language; Grafana expands $GF_PATHS_PROVISIONING.",
        "apiVersion: 1",
        "providers:",
    ]
    for lang in langs:
        folder = FOLDERS[lang]
        lines += [
            f"  - name: streetlight-{lang}",
            "    orgId: 1",
            "    type: file",
            f"    folder: {json.dumps(folder.title, ensure_ascii=False)}",
            f"    folderUid: {folder.uid}",
            "    disableDeletion: false",
            "    allowUiUpdates: false",
            "    updateIntervalSeconds: 60",
            "    options:",
            f"      path: $GF_PATHS_PROVISIONING/dashboards/{lang}",
        ]
    return "\n".join(lines) + "\n"


def write(directory: Path, langs: tuple[Lang, ...] = LANGS) -> list[Path]:
    """Write ``<directory>/<lang>/<name>.json`` for every dashboard, and the providers file
    that provisions them from ``<provisioning>/dashboards``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    providers = directory / PROVIDERS_FILE
    providers.write_text(providers_yaml(langs), encoding="utf-8")
    written = [providers]
    for lang in langs:
        folder = directory / lang
        folder.mkdir(parents=True, exist_ok=True)
        for name, document in dashboards(lang).items():
            path = folder / f"{name}.json"
            path.write_text(dashboard_text(document), encoding="utf-8")
            written.append(path)
    return written


__all__ = [
    "ANNOTATION_QUERY_KEYS",
    "BUILDERS",
    "DASHBOARDS_DIR",
    "DATASOURCE_UID",
    "FOLDERS",
    "GRAFANA_VERSION",
    "LANGS",
    "PROVIDERS_FILE",
    "PROVISIONING",
    "Folder",
    "Lang",
    "build",
    "dashboard_text",
    "dashboards",
    "providers_yaml",
    "write",
]
