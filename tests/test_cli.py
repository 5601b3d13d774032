"""The `streetlight` command as an operator runs it: errors are one line that names the problem."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from streetlight.inventory import dump_csv, load_inventory
from streetlight.services import ServiceState, free_port
from streetlight.services._servers import pid_alive
from tests.conftest import ROOT, SAMPLE_INVENTORY

STREETLIGHT = [sys.executable, "-m", "streetlight"]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")}
    return subprocess.run(
        [*STREETLIGHT, *args],
        env={**clean, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if ": error: " in line]


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("STREETLIGHT_MQTT_URL", "http://broker:1883", "scheme must be mqtt or mqtts"),
        ("STREETLIGHT_MQTT_URL", "mqtt://broker:99999", "bad port"),
        ("STREETLIGHT_INFLUX_URL", "influx.local:8086", "scheme must be http or https"),
        ("STREETLIGHT_DB_URL", "mysql://db/x", "backend must be sqlite or postgresql"),
        ("STREETLIGHT_DB_URL", "not a url", "not an SQLAlchemy URL"),
        ("STREETLIGHT_INFLUX_DB", "my db", "must be 1-64 letters"),
        ("STREETLIGHT_INFLUX_RETENTION", "forever", "must be INF or a duration"),
        ("STREETLIGHT_MQTT_ROOT", "a/#", "topic levels"),
        ("STREETLIGHT_LOG_LEVEL", "LOUD", "must be DEBUG"),
    ],
)
def test_bad_setting_stops_with_one_line_naming_it(variable: str, value: str, reason: str) -> None:
    result = run("services", "check", env={variable: value})
    assert result.returncode == 2
    (line,) = _error_lines(result)
    assert f"{variable}: " in line, line
    assert reason in line, line
    assert "Traceback" not in result.stderr


def test_unreachable_broker_is_one_line_naming_it(service_state: ServiceState) -> None:
    port = free_port()
    result = run("services", "check", env={"STREETLIGHT_MQTT_URL": f"mqtt://127.0.0.1:{port}"})
    assert result.returncode == 2
    (line,) = _error_lines(result)
    assert f"MQTT broker at mqtt://127.0.0.1:{port} (STREETLIGHT_MQTT_URL)" in line
    assert "Connection refused" in line


def test_unreachable_influxdb_is_one_line_naming_it(service_state: ServiceState) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {"STREETLIGHT_MQTT_URL": service_state.mqtt_url, "STREETLIGHT_INFLUX_URL": url}
    result = run("services", "check", env=env)
    (line,) = _error_lines(result)
    assert f"InfluxDB at {url}" in line
    assert "STREETLIGHT_INFLUX_URL" in line


def test_check_passes_against_running_servers(service_state: ServiceState, tmp_path: Path) -> None:
    env = {**service_state.env(), "STREETLIGHT_VAR_DIR": str(tmp_path)}
    result = run("services", "check", env=env)
    assert result.returncode == 0, result.stderr
    assert "MQTT broker at" in result.stdout
    assert "InfluxDB at" in result.stdout


def test_bad_inventory_row_is_one_line_naming_it(tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(_sample_csv())))
    index = next(i for i, row in enumerate(rows) if row["kind"] == "lamp") + 10
    rows[index]["phase"] = "Z"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "inv.csv"
    path.write_text(out.getvalue())

    result = run("inventory", "check", str(path))

    assert result.returncode == 2
    (line,) = _error_lines(result)
    expected = (
        f"{path}: row {index + 2} ({rows[index]['id']}): phase: Input should be 'A', 'B' or 'C'"
    )
    assert expected in line


def _sample_csv() -> str:
    return dump_csv(load_inventory(SAMPLE_INVENTORY))


def test_inventory_load_into_the_store(tmp_path: Path) -> None:
    env = {"STREETLIGHT_DB_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    result = run("inventory", "load", str(SAMPLE_INVENTORY), env=env)
    assert result.returncode == 0, result.stderr
    assert "store: added 1 districts" in result.stdout


def test_the_controller_without_an_inventory_says_how_to_load_one(tmp_path: Path) -> None:
    env = {"STREETLIGHT_DB_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = run("controller", env=env)
    assert result.returncode == 2
    (line,) = _error_lines(result)
    assert "holds no inventory" in line
    assert "streetlight inventory load PATH" in line
    refused = run("plan", "--site", "PP-S01", "--from", "2026-12-21", "--to", "2026-12-20",
                  "--inventory", str(SAMPLE_INVENTORY), env=env)  # fmt: skip
    assert refused.returncode == 2
    assert "--to 2026-12-20 is before --from 2026-12-21" in refused.stderr


def test_an_override_is_saved_when_the_controller_cannot_be_told(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "STREETLIGHT_DB_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "STREETLIGHT_MQTT_URL": f"mqtt://127.0.0.1:{port}",
    }
    assert run("inventory", "load", str(SAMPLE_INVENTORY), env=env).returncode == 0
    result = run(
        "controller", "override", "set", "--group", "subdistrict:PP", "--off",
        "--until-cancelled", "--reason", "cable works", "--by", "wang", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning: saved, but the controller was not told at once")
    assert f"the MQTT broker at mqtt://127.0.0.1:{port}" in result.stderr
    assert "it reads the store every 5 s" in result.stderr
    listed = run("controller", "override", "list", env=env)
    assert "subdistrict:PP  off" in listed.stdout
    assert "by wang: cable works" in listed.stdout


def test_services_up_status_down_by_pid(tmp_path: Path) -> None:
    up = run("services", "up", "--var", str(tmp_path))
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / "services.json").read_text())
    pids = state["pids"]
    try:
        assert all(pid_alive(pid) for pid in pids.values())
        assert run("services", "status", "--var", str(tmp_path)).returncode == 0
        again = run("services", "up", "--var", str(tmp_path))
        assert again.returncode == 2
        assert "already running" in again.stderr
        env = run("services", "env", "--var", str(tmp_path)).stdout
        assert f"export STREETLIGHT_MQTT_URL={state['mqtt_url']}" in env
    finally:
        down = run("services", "down", "--var", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert not any(pid_alive(pid) for pid in pids.values())
    assert not (tmp_path / "services.json").exists()


def test_demo_starts_loads_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")}
    demo = subprocess.Popen(
        [*STREETLIGHT, "demo", "--var", str(tmp_path)],
        cwd=ROOT,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    output: list[str] = []
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            output.append(line)
            if "press Ctrl-C" in line:
                break
        text = "".join(output)
        assert "press Ctrl-C" in text, text + (demo.stderr.read() if demo.stderr else "")
        started = [line.split() for line in output if line.split()[1:2] == ["pid"]]
        pids = {words[0]: int(words[2]) for words in started}
        assert set(pids) >= {"mosquitto", "influxd", "simulator", "gateway", "controller", "api"}
        assert all(pid_alive(pid) for pid in pids.values())
        assert "2305 lamps" in text
        # its reports come after the first simulated noon, 18 minutes away at 60x: it says so
        # (tests/test_reports.py writes them as the demo does)
        reports = tmp_path / "demo" / "reports"
        assert f"site PP-S01's acceptance report (HTML, PDF) into {reports}" in text
        assert "the first at 2026-12-22 12:10 simulated, in about" in text
        _the_demo_api_serves_its_admin(output)
        log = tmp_path / "demo" / "logs" / "simulator.log"
        deadline = time.monotonic() + 30
        while "simulating 5 subdistricts" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "simulating 5 subdistricts" in log.read_text()
        influx_url = next(w[3] for w in started if w[0] == "influxd")
        lamps = _lamps_in_influxdb(influx_url, "streetlight", at_least=2200, within=90)
        assert lamps >= 2200, f"{lamps} lamps have telemetry in InfluxDB after 90 s of demo"
        # the demo starts at 18:00, after sunset: the controller switches the district on
        lit = _lamps_in_influxdb(influx_url, "streetlight", at_least=2200, within=90, lit=True)
        assert lit >= 2200, f"{lit} lamps reported lit after 90 s of demo"
        # the cabinet door opened at 18:20 and shut at 19:10 reaches its crew's receiver as
        # one alarm raised and cleared (the receiver prints each notice)
        reader = threading.Thread(target=lambda: output.extend(demo.stdout or ()), daemon=True)
        reader.start()
        door = ("door_open", "cabinet:GT-S05-K1")
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and _told(output, door) != ["raised", "cleared"]:
            time.sleep(1)
        assert _told(output, door) == ["raised", "cleared"], "".join(output)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:  # a failed assertion above: stop it as an operator would
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(30)
            except subprocess.TimeoutExpired:
                demo.kill()  # its roles and servers die with it (PR_SET_PDEATHSIG)
                demo.wait()
        for stream in (demo.stdout, demo.stderr):
            if stream:
                stream.close()
    assert not any(pid_alive(pid) for pid in pids.values())


def _the_demo_api_serves_its_admin(output: list[str]) -> None:
    """The API the demo printed answers, and its demo admin logs in with the printed password."""
    docs = next(word for line in output for word in line.split() if word.endswith("/v1/docs"))
    base = docs.removesuffix("/api/v1/docs")
    login = next(line.split() for line in output if "log in as" in line)
    name, password = login[3], login[5]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                break
        time.sleep(0.5)
    login_form = {"username": name, "password": password}
    token = httpx.post(f"{base}/api/v1/auth/token", data=login_form).json()["access_token"]
    district = httpx.get(f"{base}/api/v1/district/state", timeout=10,
                         headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
    assert len(district["lamps"]["id"]) == 2305
    assert httpx.get(f"{base}/api/v1/docs").status_code == 200


def _told(output: list[str], alarm: tuple[str, str]) -> list[str]:
    """The events the demo's receiver printed for an alarm (type, asset), in order."""
    return [
        words[5]
        for words in (line.split() for line in list(output))
        if words[:1] == ["notified"] and tuple(words[7:9]) == alarm
    ]


def _lamps_in_influxdb(
    url: str, db: str, *, at_least: int, within: float, lit: bool = False
) -> int:
    """How many lamps have points (`lit`: reporting on) in InfluxDB, once `at_least` do or
    `within` s have gone."""
    where = " WHERE relay_on = true" if lit else ""
    query = f"SELECT count(power_w) FROM lamp{where} GROUP BY lamp"
    deadline = time.monotonic() + within
    lamps = 0
    while time.monotonic() < deadline and lamps < at_least:
        time.sleep(1)
        answer = httpx.get(f"{url}/query", params={"db": db, "q": query}, timeout=10).json()
        lamps = len(answer["results"][0].get("series", []))
    return lamps


def test_simulate_refuses_a_bad_scenario_in_one_line(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "faults:\n  - {at: 2026-12-21T19:00:00+08:00, target: 'lamp:NOPE', kind: lamp_failure}\n"
    )
    result = run("simulate", "--inventory", str(SAMPLE_INVENTORY), "--scenario", str(scenario))
    assert result.returncode == 2
    (line,) = _error_lines(result)
    assert f"{scenario}: faults[0] (lamp:NOPE lamp_failure): " in line
    assert "the inventory has no lamp 'NOPE'" in line


def test_simulate_runs_the_sample_district_and_stops_on_ctrl_c(
    service_state: ServiceState, tmp_path: Path
) -> None:
    endpoints = tmp_path / "endpoints.yaml"
    env = {**service_state.env(), "STREETLIGHT_VAR_DIR": str(tmp_path)}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")}
    process = subprocess.Popen(
        [*STREETLIGHT, "simulate", "--inventory", str(SAMPLE_INVENTORY), "--speed", "60",
         "--endpoints", str(endpoints)],
        cwd=ROOT, env={**clean, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "simulating 5 subdistricts" in first, first + (
            process.stderr.read() if process.stderr else ""
        )
        assert endpoints.exists()
        time.sleep(2)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def test_a_killed_demo_takes_its_servers_and_roles_with_it(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")}
    demo = subprocess.Popen(
        [*STREETLIGHT, "demo", "--var", str(tmp_path)],
        cwd=ROOT, env=clean, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    pids: dict[str, int] = {}
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            words = line.split()
            if words[1:2] == ["pid"]:
                pids[words[0]] = int(words[2])
            if "press Ctrl-C" in line:
                break
        assert set(pids) >= {"mosquitto", "influxd", "simulator"}
    finally:
        demo.kill()  # no chance to clean up
        demo.wait()
        assert demo.stdout is not None
        demo.stdout.close()
    # each child hears SIGTERM at once; a simulator whose lamp links were half-way through
    # connecting to the (now dead) broker waits out aiomqtt's 10 s connect timeout first
    deadline = time.monotonic() + 30
    while any(pid_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [name for name, pid in pids.items() if pid_alive(pid)]
