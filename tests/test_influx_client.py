"""The InfluxDB client and batching writer against a real influxd."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streetlight.contract import AlarmEvent, Target, TargetKind, alarm_line
from streetlight.contract.influx_schema import ensure_database
from streetlight.domain import AlarmState, AlarmType, Severity
from streetlight.influx import (
    BatchWriter,
    InfluxClient,
    InfluxError,
    InfluxPartialWriteError,
    InfluxRequestError,
    InfluxUnavailableError,
    Point,
    RetryPolicy,
    quote_ident,
    quote_literal,
)
from streetlight.influx.client import dropped_points
from streetlight.services import Influxd, LocalServices, find_program, free_port
from streetlight.settings import CommonSettings, load_settings
from tests.conftest import FAST_RETRY


async def _count(influx: InfluxClient, measurement: str = "m") -> int:
    series = await influx.query(f"SELECT count(v) FROM {quote_ident(measurement)}")
    return int(series[0].values[0][1]) if series else 0


def _lines(n: int, start: int = 0) -> list[str]:
    t0 = 1_700_000_000_000_000_000
    return [Point("m", {"v": float(i)}, time_ns=t0 + i).to_line() for i in range(start, start + n)]


async def test_write_and_query_with_and_without_gzip(
    servers: LocalServices, influx: InfluxClient
) -> None:
    async with InfluxClient(servers.influxd.url(), influx.database, compress=False) as plain:
        await plain.write_lines(_lines(10))
    await influx.write_lines(_lines(10, start=10))  # the fixture's client compresses

    assert await _count(influx) == 20
    assert (await influx.ping()).startswith("1.")


async def test_query_rows_carry_tags_and_columns(influx: InfluxClient) -> None:
    await influx.write_lines(
        [Point("lamp", {"power_w": 40.5}, time_ns=5, tags={"lamp": "L1", "site": "S 1"}).to_line()]
    )
    series = await influx.query(
        f"SELECT power_w FROM lamp WHERE site = {quote_literal('S 1')} GROUP BY lamp"
    )
    assert series[0].rows() == [{"lamp": "L1", "time": 5, "power_w": 40.5}]


async def test_writer_batches_by_size(influx: InfluxClient) -> None:
    async with BatchWriter(influx, batch_size=100, flush_interval=60) as writer:
        await writer.write_lines(_lines(1000))
        await writer.flush()
        assert writer.stats.batches_written == 10
    assert writer.stats.lines_written == 1000
    assert await _count(influx) == 1000


async def test_receipts_are_done_with_the_batch_holding_their_last_line(
    influx: InfluxClient,
) -> None:
    done: list[list[object]] = []
    async with BatchWriter(influx, batch_size=10, flush_interval=60, on_done=done.append) as w:
        await w.write_many(_lines(4), ["a"])
        await w.write_many(_lines(12, start=4), ["b", "c"])  # fills the first batch and more
        await w.flush()
        await w.write_many(_lines(3, start=16), ["d"])
    # lines 0-9 were the first batch: "b" and "c" also own lines 10-15, so they wait for it
    assert done == [["a"], ["b", "c"], ["d"]]
    assert await _count(influx) == 19


async def test_receipts_wait_for_earlier_batches_that_finish_later(influx: InfluxClient) -> None:
    """The first batch takes longer (its failure handler is slow, as a spool on a busy disk
    would be); the second is written first, but its receipt is done only after the first's."""
    events: list[str] = []
    held = [True]

    def hold() -> bool:
        first, held[0] = held[0], False
        return first

    async def slow_spool(batch: list[str], _exc: InfluxError) -> None:
        await asyncio.sleep(0.5)
        events.append(f"spooled {len(batch)}")

    def on_done(receipts: list[object]) -> None:
        events.append(f"done {receipts}")

    async with BatchWriter(
        influx, batch_size=5, flush_interval=60, on_done=on_done, on_failure=slow_spool, hold=hold
    ) as writer:
        await writer.write_many(_lines(5), ["first"])
        await writer.write_many(_lines(5, start=5), ["second"])
        await writer.flush()
    assert events == ["spooled 5", "done ['first']", "done ['second']"]
    assert await _count(influx) == 5  # the second batch was written while the first waited


async def test_writer_flushes_a_partial_batch_by_age(influx: InfluxClient) -> None:
    async with BatchWriter(influx, batch_size=10_000, flush_interval=0.2) as writer:
        await writer.write_lines(_lines(7))
        for _ in range(100):
            if writer.stats.lines_written == 7:
                break
            await asyncio.sleep(0.05)
        assert writer.stats.lines_written == 7  # written by age, with no flush() call
        assert writer.buffered == 0


async def test_writer_flushes_everything_on_exit(influx: InfluxClient) -> None:
    async with BatchWriter(influx, batch_size=64, flush_interval=60, max_in_flight=3) as writer:
        await writer.write_lines(_lines(1001))
    assert await _count(influx) == 1001


async def test_unknown_database_is_a_request_error_naming_it(servers: LocalServices) -> None:
    async with InfluxClient(servers.influxd.url(), "no_such_db", retry=FAST_RETRY) as client:
        with pytest.raises(InfluxRequestError, match="no_such_db") as caught:
            await client.write_lines(_lines(1))
    assert caught.value.status == 404


async def test_bad_points_are_refused_not_retried(influx: InfluxClient) -> None:
    await influx.write_lines(["m v=1.0 1"])
    with pytest.raises(InfluxRequestError, match="field type conflict"):
        await influx.write_lines(['m v="text" 2'])


async def test_a_partial_write_counts_what_was_stored_and_what_was_dropped(
    influx: InfluxClient,
) -> None:
    """InfluxDB 1.x stores the good points of a batch and answers 400 `partial write ...
    dropped=N` for the rest: the writer counts both as they were, and sends nothing again."""
    await influx.write_lines(["m v=1.0 1"])
    with pytest.raises(InfluxPartialWriteError) as caught:
        await influx.write_lines(['m v="text" 2', "m v=3.0 3", "m v=4.0 4"])
    assert caught.value.dropped == 1
    kept: list[list[str]] = []

    async def keep(batch: list[str], _error: InfluxError) -> None:
        kept.append(batch)

    lines = ['m v="a" 5', 'm v="b" 6', "m v=7.0 7", "m v=8.0 8", "m v=9.0 9"]
    async with BatchWriter(influx, batch_size=5, flush_interval=60, on_failure=keep) as writer:
        await writer.write_many(lines)
    assert (writer.stats.lines_written, writer.stats.lines_refused) == (3, 2)
    assert kept == []
    series = await influx.query("SELECT count(v) FROM m")
    assert series[0].values[0][1] == 1 + 2 + 3


def test_the_dropped_count_of_a_partial_write_answer() -> None:
    assert dropped_points("partial write: points beyond retention policy dropped=7") == 7
    assert (
        dropped_points(
            "partial write: unable to parse 'a b': bad\nunable to parse 'c d': bad dropped=0"
        )
        == 2
    )
    assert dropped_points("database not found: x") is None


async def test_unreachable_server_is_retried_a_bounded_number_of_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    retry = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02)
    caplog.set_level(logging.WARNING, logger="streetlight.influx.client")
    async with InfluxClient(url, "db", retry=retry, timeout=2) as client:
        with pytest.raises(InfluxUnavailableError, match=url):
            await client.write_lines(_lines(1))
    # three attempts, one "unreachable" line: the link's state changed once
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1


async def test_failed_batch_goes_to_the_failure_handler() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    failed: list[tuple[int, str]] = []

    async def keep(batch: list[str], error: InfluxError) -> None:
        failed.append((len(batch), type(error).__name__))

    retry = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.01)
    async with InfluxClient(url, "db", retry=retry) as client:
        async with BatchWriter(client, batch_size=5, flush_interval=60, on_failure=keep) as writer:
            await writer.write_lines(_lines(12))
        assert failed == [(5, "InfluxUnavailableError")] * 2 + [(2, "InfluxUnavailableError")]
        assert writer.stats.lines_failed == 0  # handed over, not dropped


async def test_writer_recovers_when_the_server_comes_back(tmp_path: Path) -> None:
    program = find_program("influxd")
    assert program is not None
    server = Influxd(program, tmp_path / "influx")
    server.start()
    try:
        retry = RetryPolicy(attempts=20, initial_delay=0.1, max_delay=0.3)
        async with InfluxClient(server.url(), "db", retry=retry) as client:
            await client.execute('CREATE DATABASE "db"')
            server.stop()
            write = asyncio.create_task(client.write_lines(_lines(3)))
            await asyncio.sleep(0.5)
            assert not write.done()  # still retrying while the server is away
            await asyncio.to_thread(server.start)
            await write
            assert await _count(client) == 3
    finally:
        server.stop()


async def test_user_and_password_authentication(tmp_path: Path) -> None:
    program = find_program("influxd")
    assert program is not None
    password = uuid.uuid4().hex
    server = Influxd(program, tmp_path / "influx", admin=("admin", password))
    server.start()
    try:
        async with InfluxClient(server.url(), "db", retry=FAST_RETRY) as anonymous:
            with pytest.raises(InfluxRequestError, match="401"):
                await anonymous.execute('CREATE DATABASE "db"')
        async with InfluxClient(server.url(), "db", username="admin", password="wrong") as bad:
            with pytest.raises(InfluxRequestError, match="authorization failed"):
                await bad.execute('CREATE DATABASE "db"')
        async with InfluxClient(server.url(), "db", username="admin", password=password) as good:
            await good.execute('CREATE DATABASE "db"')
            await good.write_lines(_lines(2))
            assert await _count(good) == 2
    finally:
        server.stop()


async def test_token_is_sent_as_influxdb_2_compatibility_expects() -> None:
    # InfluxDB 1.6 (the local server) has no token auth; 2.x/3.x read "Authorization: Token"
    async with InfluxClient("http://127.0.0.1:1", "db", token="s3cret") as client:
        assert client.auth_header == "Token s3cret"
    with pytest.raises(ValueError, match="not both"):
        InfluxClient("http://127.0.0.1:1", "db", token="t", username="u")


async def test_ensure_database_sets_the_raw_and_kpi_retention_policies(
    influx: InfluxClient,
) -> None:
    await ensure_database(influx, "35d")
    await ensure_database(influx, "8w", "400d")  # running it again adjusts, does not fail
    series = await influx.query(f"SHOW RETENTION POLICIES ON {quote_ident(influx.database)}")
    policies = {row["name"]: row for s in series for row in s.rows()}
    assert policies["raw"]["default"] is True
    assert policies["raw"]["duration"] == "1344h0m0s"
    assert policies["kpi"]["default"] is False
    assert policies["kpi"]["duration"] == "9600h0m0s"


@pytest.mark.parametrize(
    ("url", "setting", "compress"),
    [
        ("http://127.0.0.1:8086", "auto", False),
        ("http://localhost:8086", "auto", False),
        ("http://[::1]:8086", "auto", False),
        ("https://influx.example:8086", "auto", True),
        ("http://127.0.0.1:8086", "on", True),
        ("https://influx.example:8086", "off", False),
    ],
)
async def test_gzip_setting(url: str, setting: str, compress: bool) -> None:
    settings = load_settings(CommonSettings, influx_url=url, influx_gzip=setting)
    async with InfluxClient.from_settings(settings) as client:
        assert client.compress is compress


async def test_alarms_raised_at_one_reading_time_are_a_point_each(influx: InfluxClient) -> None:
    """The lamps behind one concentrator are read together, so their alarms share a time and a
    series (type, severity, kind, state, subdistrict): each must still be its own point."""
    at = datetime(2026, 12, 21, 9, 33, tzinfo=UTC)
    events = [
        AlarmEvent(
            id=f"al-{n}",
            type=AlarmType.LAMP_FAILURE,
            asset=Target(kind=TargetKind.LAMP, id=f"PP-S09-L00{n}"),
            severity=Severity.ORDINARY,
            state=AlarmState.RAISED,
            at=at,
            raised_at=at,
        )
        for n in (1, 2, 3)
    ]
    await influx.write_lines([alarm_line(event, "PP") for event in events])
    (series,) = await influx.query('SELECT "asset" FROM "alarm"', epoch="ms")
    assets = sorted(row["asset"] for row in series.rows())
    assert assets == [f"PP-S09-L00{n}" for n in (1, 2, 3)]
    assert {row["time"] for row in series.rows()} == {int(at.timestamp() * 1000)}
