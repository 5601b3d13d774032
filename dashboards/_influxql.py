"""InfluxQL pieces the Foundation SDK does not have: a raw-query target and an annotation.

The SDK built for Grafana 11.3 has no InfluxDB data-query model, so a panel's InfluxQL target is
built here as Grafana's InfluxDB data source stores a raw query (`rawQuery`, `query`,
`resultFormat`, `alias`); the panel schema takes any object as a target.

An InfluxQL annotation is where the SDK and Grafana part: Grafana's InfluxDB plugin reads the
query and its columns from the annotation's own `query`, `textColumn` and `tagsColumn`
(its `migrations.ts`: the legacy form it still loads), which the 11.3 dashboard schema's
`AnnotationQuery` does not declare (it calls its `target` a TODO). `InfluxAnnotation` adds
exactly those keys; `ANNOTATION_QUERY_KEYS` names them for the test that validates the rest.
"""

from __future__ import annotations

import typing
from typing import Literal

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

DATASOURCE_UID = "streetlight-influxdb"  # provisioning/datasources/influxdb.yaml
DATASOURCE = dashboard.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)
ANNOTATION_QUERY_KEYS = ("query", "textColumn", "tagsColumn")

ResultFormat = Literal["time_series", "table"]


class InfluxQLTarget(cogvariants.Dataquery):
    """One raw InfluxQL query of a panel."""

    def __init__(self, query: str, result_format: ResultFormat, alias: str | None) -> None:
        self.ref_id = "A"
        self.query = query
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "datasource": DATASOURCE,
            "query": self.query,
            "rawQuery": True,
            "refId": self.ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload


class InfluxQL(cogbuilder.Builder[cogvariants.Dataquery]):
    """``InfluxQL('SELECT ...').table()``: a raw query, as a time series unless `table()`;
    `alias` names its series (``$tag_name`` takes a grouping tag's value)."""

    def __init__(self, query: str) -> None:
        self._target = InfluxQLTarget(" ".join(query.split()), "time_series", None)

    def build(self) -> InfluxQLTarget:
        return self._target

    def ref_id(self, ref_id: str) -> typing.Self:
        self._target.ref_id = ref_id
        return self

    def table(self) -> typing.Self:
        self._target.result_format = "table"
        return self

    def alias(self, alias: str) -> typing.Self:
        self._target.alias = alias
        return self


class _InfluxAnnotationQuery(dashboard.AnnotationQuery):
    query: str = ""
    text_column: str = ""
    tags_column: str = ""

    def to_json(self) -> dict[str, object]:
        payload = super().to_json()
        payload.update(
            {"query": self.query, "textColumn": self.text_column, "tagsColumn": self.tags_column}
        )
        return payload


class InfluxAnnotation(cogbuilder.Builder[dashboard.AnnotationQuery]):
    """Events from an InfluxQL query: `text` and `tags` name columns of its result."""

    def __init__(self, name: str, query: str, *, text: str, tags: str, color: str) -> None:
        self._internal = _InfluxAnnotationQuery(
            name=name, datasource=DATASOURCE, enable=True, icon_color=color
        )
        self._internal.query = " ".join(query.split())
        self._internal.text_column = text
        self._internal.tags_column = tags

    def build(self) -> dashboard.AnnotationQuery:
        return self._internal
