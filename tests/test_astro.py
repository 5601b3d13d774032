"""Sun times against NREL's SPA (tests/data/spa_sun_times_2026.csv, from pvlib; see
tests/data/spa_sun_times.py): every day of 2026 at five Chinese cities from 18 to 53 degrees N,
sunrise, sunset, civil dawn and dusk, each within 60 s."""

from __future__ import annotations

import csv
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from streetlight.schedule import SunEvent, sun_times

REFERENCE = Path(__file__).parent / "data" / "spa_sun_times_2026.csv"
CST = timezone(timedelta(hours=8))  # China Standard Time, as the reference is written
TOLERANCE_S = 60


def _reference() -> tuple[dict[str, tuple[float, float]], list[dict[str, str]]]:
    """The cities (latitude, longitude) and the rows of the reference file."""
    cities: dict[str, tuple[float, float]] = {}
    lines: list[str] = []
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("# city "):
            _, _, name, latitude, longitude = line.split()
            cities[name] = (float(latitude), float(longitude))
        elif not line.startswith("#"):
            lines.append(line)
    return cities, list(csv.DictReader(lines))


def test_sun_times_are_within_a_minute_of_spa_every_day_at_five_cities() -> None:
    cities, rows = _reference()
    assert len(cities) == 5
    assert len(rows) == 365 * 5
    worst = (0.0, "")
    for row in rows:
        day = date.fromisoformat(row["date"])
        latitude, longitude = cities[row["city"]]
        ours = sun_times(day, latitude, longitude, 8.0)
        for event in SunEvent:
            moment = ours.at(event)
            assert moment is not None, f"{row['city']} {day}: no {event}"
            spa = datetime.combine(day, time.fromisoformat(row[event.value]), CST)
            error = (moment - spa).total_seconds()
            if abs(error) > abs(worst[0]):
                worst = (error, f"{row['city']} {day} {event.value}")
    print(f"sun times against SPA: worst {worst[0]:+.0f} s ({worst[1]}), 365 x 5 x 4 events")
    assert abs(worst[0]) <= TOLERANCE_S, f"{worst[1]}: {worst[0]:+.0f} s from SPA"


@pytest.mark.parametrize(("latitude", "longitude"), [(43.83, 87.62), (29.65, 91.17)])
def test_a_zone_far_from_its_meridian_gets_the_events_of_the_local_date(
    latitude: float, longitude: float
) -> None:
    """Urumqi and Lhasa keep Beijing time, two to two and a half hours ahead of their sun."""
    day = date(2026, 1, 1)
    while day.year == 2026:
        times = sun_times(day, latitude, longitude, 8.0)
        moments = [times.dawn, times.sunrise, times.sunset, times.dusk]
        assert all(moment is not None for moment in moments), day
        assert moments == sorted(moments), day  # type: ignore[type-var]
        assert all(m is not None and m.astimezone(CST).date() == day for m in moments), day
        day += timedelta(days=1)


def test_solstices_in_xunyang_fall_where_the_almanac_has_them() -> None:
    """Xunyang's winter sunset is near 17:25 and summer sunset near 19:20 local time."""
    december = sun_times(date(2026, 12, 21), 29.73, 115.99, 8.0)
    june = sun_times(date(2026, 6, 21), 29.73, 115.99, 8.0)
    assert december.sunset is not None
    assert june.sunset is not None
    assert _local(december.sunset) == pytest.approx(17 * 60 + 25, abs=10)
    assert _local(june.sunset) == pytest.approx(19 * 60 + 20, abs=10)
    assert december.dusk is not None
    assert december.dusk > december.sunset


def test_polar_night_has_no_sunrise() -> None:
    times = sun_times(date(2026, 12, 21), 78.2, 15.6, 1.0)  # Longyearbyen
    assert times.sunrise is None
    assert times.sunset is None


def test_midnight_sun_has_no_sunset() -> None:
    times = sun_times(date(2026, 6, 21), 78.2, 15.6, 2.0)
    assert (times.sunrise, times.sunset, times.dawn, times.dusk) == (None, None, None, None)


def test_an_impossible_place_is_refused() -> None:
    with pytest.raises(ValueError, match="latitude 95"):
        sun_times(date(2026, 1, 1), 95.0, 0.0, 0.0)


def _local(moment: datetime) -> int:
    local = moment.astimezone(CST)
    return local.hour * 60 + local.minute
