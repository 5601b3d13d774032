"""History through the API, against points written to the session's real influxd: a lamp's,
a circuit's and a cabinet's means per interval, exactly; the cap on points; unknown assets and
fields; InfluxDB away. On SQLite and PostgreSQL (the store says which assets exist)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from streetlight.contract import Topics
from streetlight.influx import InfluxClient
from streetlight.services import ServiceState, free_port
from streetlight.store.users import Role
from tests.api_rig import BACKENDS, Api, api_settings, running_api, store_url, store_with
from tests.helpers import subset

T0 = datetime(2026, 12, 21, 10, 0, tzinfo=UTC)  # on a 5-minute boundary
TAGS = "circuit=PP-S04-K1-C1,cabinet=PP-S04-K1,site=PP-S04,subdistrict=PP"
CABINET = "cabinet=PP-S04-K1,site=PP-S04,subdistrict=PP"


def _ns(seconds: int) -> int:
    return int((T0 + timedelta(seconds=seconds)).timestamp()) * 1_000_000_000


LINES = [
    # a lamp: two reports in the first 5 minutes, one in the second
    f"lamp,lamp=PP-S04-L001,{TAGS} power_w=60,dim_pct=100i,energy_wh=100,voltage_v=230 {_ns(0)}",
    f"lamp,lamp=PP-S04-L001,{TAGS} power_w=30,dim_pct=50i,energy_wh=101,voltage_v=226 {_ns(60)}",
    f"lamp,lamp=PP-S04-L001,{TAGS} power_w=10,dim_pct=20i,energy_wh=102,voltage_v=220 {_ns(300)}",
    # another lamp of the same circuit, and one of another circuit (not the circuit's)
    f"lamp,lamp=PP-S04-L002,{TAGS} power_w=20,dim_pct=100i {_ns(30)}",
    f"lamp,lamp=PP-S04-L010,{TAGS.replace('C1', 'C2')} power_w=99,dim_pct=100i {_ns(30)}",
    # the cabinet's reading of the circuit
    f"circuit,circuit=PP-S04-K1-C1,{CABINET} contactor_on=true,current_a=0.3 {_ns(10)}",
    f"circuit,circuit=PP-S04-K1-C1,{CABINET} contactor_on=true,current_a=0.5 {_ns(70)}",
    # the cabinet and its phases
    f"cabinet,{CABINET} lux=10,door_open=false {_ns(5)}",
    f"cabinet,{CABINET} lux=20,door_open=false {_ns(65)}",
    f"cabinet_phase,phase=A,{CABINET} voltage_v=220,power_w=500 {_ns(5)}",
    f"cabinet_phase,phase=A,{CABINET} voltage_v=224,power_w=700 {_ns(65)}",
    f"cabinet_phase,phase=B,{CABINET} voltage_v=230,power_w=400 {_ns(5)}",
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _range(start_s: int, end_s: int, **params: str) -> str:
    times = {"from": (T0 + timedelta(seconds=start_s)).isoformat(),
             "to": (T0 + timedelta(seconds=end_s)).isoformat()}  # fmt: skip
    return urlencode({**times, **params})


async def _get(api: Api, headers: dict[str, str], path: str) -> Any:
    response = await api.http.get(f"/api/v1/{path}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_lamps_a_circuits_and_a_cabinets_history(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url(backend, tmp_path, request),
                            api_history_points_max=10)  # fmt: skip
    await store_with(settings.db_url, subset(["PP-S04"]))
    await influx.write_lines(LINES)
    async with running_api(settings) as api:
        viewer = await api.as_role(Role.VIEWER)
        fifteen = _range(0, 900, interval="5m", fields="power_w,dim_pct,energy_wh")
        lamp = await _get(api, viewer, f"lamps/PP-S04-L001/history?{fifteen}")
        assert (lamp["asset"], lamp["interval"]) == ("lamp:PP-S04-L001", "5m")
        assert lamp["time"] == [(T0 + timedelta(minutes=m)).isoformat().replace("+00:00", "Z")
                                for m in (0, 5, 10)]  # fmt: skip
        assert lamp["series"] == {
            "power_w": [45.0, 10.0, None],
            "dim_pct": [75.0, 20.0, None],
            "energy_wh": [101.0, 102.0, None],
        }  # the counter: its last
        assert lamp["units"] == {"power_w": "W", "dim_pct": "%", "energy_wh": "Wh"}
        every = await _get(api, viewer, f"lamps/PP-S04-L001/history?{_range(0, 600)}")
        assert every["series"]["voltage_v"] == [228.0, 220.0]
        assert every["series"]["driver_temp_c"] == [None, None]
        assert "relay_on" not in every["series"]  # booleans are not averaged
        # a range off the boundaries: InfluxDB's intervals are aligned to the epoch
        off = await _get(api, viewer, f"lamps/PP-S04-L001/history?{_range(120, 600)}")
        assert (off["time"][0], off["series"]["power_w"]) == ("2026-12-21T10:00:00Z", [None, 10.0])

        circuit = await _get(api, viewer, f"circuits/PP-S04-K1-C1/history?{_range(0, 900)}")
        assert circuit["series"] == {
            "current_a": [0.4, None, None],  # the cabinet's reading
            "power_w": [65.0, 10.0, None],  # the sum of its lamps' means: 45 + 20, then 10
            "lamps_reporting": [2.0, 1.0, None],
        }
        cabinet = await _get(api, viewer, "cabinets/PP-S04-K1/history?"
                             + _range(0, 300, fields="lux,voltage_v"))  # fmt: skip
        assert cabinet["series"] == {"lux": [15.0], "voltage_v.A": [222.0],
                                     "voltage_v.B": [230.0], "voltage_v.C": [None]}  # fmt: skip

        # more than the cap: refused, naming the smallest interval that fits
        hour = _range(0, 3600, interval="5m")
        capped = await api.http.get(f"/api/v1/lamps/PP-S04-L001/history?{hour}", headers=viewer)
        assert capped.status_code == 422
        assert capped.json()["field"] == "query.interval"
        assert "12 intervals of 5m" in capped.json()["message"]
        assert "an interval of 6m or more fits" in capped.json()["message"]
        fits = await _get(
            api, viewer, f"lamps/PP-S04-L001/history?{_range(0, 3600, interval='6m')}"
        )
        assert len(fits["time"]) == 10

        for path, status, field in (
            ("lamps/PP-S04-L999/history", 404, None),
            ("circuits/PP-S04-K1-C9/history", 404, None),
            ("cabinets/PP-S04-K9/history", 404, None),
            (f"lamps/PP-S04-L001/history?{_range(0, 600, fields='colour')}", 422, "query.fields"),
            (f"circuits/PP-S04-K1-C1/history?{_range(0, 600, fields='lux')}", 422, "query.fields"),
            (f"lamps/PP-S04-L001/history?{_range(0, 600, interval='5 min')}", 422,
             "query.interval"),
            (f"lamps/PP-S04-L001/history?{_range(600, 0)}", 422, "query.to"),
            ("lamps/PP-S04-L001/history?from=yesterday", 422, "query.from"),
            ("lamps/PP-S04-L001/history?from=2026-12-21T10:00:00", 422, "query.from"),  # naive
            ("lamps/PP-S04-L001/history?to=0001-01-01T00:00:00Z", 422, "query.to"),
        ):  # fmt: skip
            refused = await api.http.get(f"/api/v1/{path}", headers=viewer)
            assert (refused.status_code, refused.json().get("field")) == (status, field), path
        assert (await api.http.get("/api/v1/lamps/PP-S04-L001/history")).status_code == 401


async def test_influxdb_away_is_a_503(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url("sqlite", tmp_path, request))
    settings = settings.model_copy(update={"influx_url": f"http://127.0.0.1:{free_port()}"})
    await store_with(settings.db_url, subset(["PP-S04"]))
    async with running_api(settings) as api:
        viewer = await api.as_role(Role.VIEWER)
        away = await api.http.get(f"/api/v1/lamps/PP-S04-L001/history?{_range(0, 600)}",
                                  headers=viewer)  # fmt: skip
        assert away.status_code == 503
        assert away.json()["code"] == "influx_unavailable"
        assert "the history cannot be read: InfluxDB at http://127.0.0.1:" in away.json()["message"]
