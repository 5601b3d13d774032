"""`streetlight dashboards push` against a Grafana of the tests' own (tests/grafana_fake.py),
which checks every request against Grafana's HTTP API documentation; and `write`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import dashboards
from dashboards.push import Credentials, InfluxSource, PushError, push, version_fits
from tests.grafana_fake import FakeGrafana
from tests.test_cli import run

TOKEN = Credentials(token="glsa_test")
INFLUX = InfluxSource("http://influxdb:8086", "streetlight")
EVERY = len(dashboards.BUILDERS) * len(dashboards.LANGS)


async def test_push_creates_everything_then_changes_nothing() -> None:
    async with FakeGrafana() as grafana:
        report = await push(grafana.url, TOKEN, langs=dashboards.LANGS, influx=INFLUX)
        assert grafana.violations == []
        assert report.outcomes["dashboard created"] == EVERY
        assert report.outcomes["folder created"] == 2
        assert report.outcomes["data source created"] == 1
        assert grafana.requests[0].path == "/api/health"  # the version before any write
        assert set(grafana.folders) == {"streetlight", "streetlight-en"}
        stored = grafana.dashboards["streetlight-overview"]
        assert stored["meta"]["folderUid"] == "streetlight"
        assert stored["dashboard"]["title"] == "路灯 · 城市总览"
        assert grafana.dashboards["streetlight-overview-en"]["meta"]["folderUid"] == (
            "streetlight-en"
        )
        posted = [r.body for r in grafana.requests if r.path == "/api/dashboards/db"]
        assert all(b["overwrite"] is True and b["dashboard"]["id"] is None for b in posted)

        grafana.requests.clear()
        again = await push(grafana.url, TOKEN, langs=dashboards.LANGS, influx=INFLUX)
        assert grafana.writes() == []  # idempotent: nothing written, no new versions
        assert again.outcomes["dashboard unchanged"] == EVERY
        assert grafana.violations == []


async def test_push_overwrites_what_someone_changed() -> None:
    async with FakeGrafana() as grafana:
        await push(grafana.url, TOKEN, langs=("zh",), influx=INFLUX)
        grafana.dashboards["streetlight-energy"]["dashboard"]["title"] = "edited by hand"
        grafana.folders["streetlight"]["title"] = "renamed"
        grafana.requests.clear()
        report = await push(grafana.url, TOKEN, langs=("zh",))
        assert grafana.writes() == [
            ("PUT", "/api/folders/streetlight"),
            ("POST", "/api/dashboards/db"),
        ]
        assert report.outcomes["dashboard updated"] == 1
        assert grafana.dashboards["streetlight-energy"]["dashboard"]["title"] == "路灯 · 能耗"
        assert grafana.dashboards["streetlight-energy"]["dashboard"]["version"] == 2
        assert grafana.violations == []


@pytest.mark.parametrize("version", ["10.4.3", "11.2.0", "11.4.0", "12.0.0"])
async def test_push_refuses_a_grafana_of_another_version(version: str) -> None:
    async with FakeGrafana(version=version) as grafana:
        with pytest.raises(PushError, match=rf"is version {version}; .* built for Grafana 11\.3"):
            await push(grafana.url, TOKEN, langs=dashboards.LANGS, influx=INFLUX)
        assert [r.path for r in grafana.requests] == ["/api/health"]


def test_patch_releases_of_the_same_grafana_fit() -> None:
    assert version_fits("11.3.0")
    assert version_fits("11.3.2-security-01")
    assert not version_fits("11.30.0")


async def test_push_needs_the_data_source_or_its_url() -> None:
    async with FakeGrafana() as grafana:
        with pytest.raises(PushError, match=r"no data source .streetlight-influxdb.*--influx-url"):
            await push(grafana.url, TOKEN, langs=dashboards.LANGS)
        assert grafana.writes() == []


async def test_push_with_a_user_logs_in_with_basic_auth() -> None:
    async with FakeGrafana() as grafana:
        await push(
            grafana.url, Credentials(user="admin", password="s3cret"), langs=("en",), influx=INFLUX
        )
        assert grafana.violations == []
        auth = grafana.requests[-1].headers["authorization"]
        assert auth.startswith("Basic ")


async def test_push_says_when_grafana_does_not_answer() -> None:
    with pytest.raises(PushError, match=r"Grafana at http://127.0.0.1:1"):
        await push("http://127.0.0.1:1", TOKEN, langs=("zh",), request_timeout_s=2)


def test_credentials_are_never_defaulted() -> None:
    with pytest.raises(PushError, match=r"a token, or a user name and password"):
        Credentials()
    with pytest.raises(PushError, match="has no password"):
        Credentials(user="admin")


def test_command_refuses_to_push_without_credentials() -> None:
    result = run("dashboards", "push", "--grafana-url", "http://127.0.0.1:1")
    assert result.returncode == 2
    assert "no Grafana credentials" in result.stderr


async def test_command_pushes_with_a_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("glsa_test\n")
    async with FakeGrafana() as grafana:
        result = await asyncio.to_thread(
            run, "dashboards", "push", "--grafana-url", grafana.url, "--token-file", str(token),
            "--lang", "zh", "--influx-url", "http://influxdb:8086",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "Grafana 11.3.0: " in result.stdout
        assert f"{len(dashboards.BUILDERS)} dashboard created" in result.stdout
        assert grafana.violations == []


def test_command_writes_the_provisioning_files(tmp_path: Path) -> None:
    result = run("dashboards", "write", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for path in dashboards.DASHBOARDS_DIR.rglob("*.*"):
        written = tmp_path / path.relative_to(dashboards.DASHBOARDS_DIR)
        assert written.read_bytes() == path.read_bytes(), written
