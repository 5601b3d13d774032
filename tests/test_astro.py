"""Sun times against astral's solar position (the reference), for Xunyang and other Chinese
cities, every day of a year, December and June included."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from astral import LocationInfo, Observer, sun

from streetlight.schedule import SunEvent, sun_times

SHANGHAI = ZoneInfo("Asia/Shanghai")
CITIES = {
    "Xunyang": (29.73, 115.99),
    "Harbin": (45.80, 126.53),
    "Urumqi": (43.83, 87.62),  # far west of its zone's meridian
    "Sanya": (18.25, 109.51),
    "Lhasa": (29.65, 91.17),
}
TOLERANCE_S = 60


@pytest.mark.parametrize("city", sorted(CITIES))
def test_sun_times_are_within_a_minute_of_the_reference_every_day(city: str) -> None:
    latitude, longitude = CITIES[city]
    observer = LocationInfo(city, "China", "Asia/Shanghai", latitude, longitude).observer
    worst = 0.0
    day = date(2026, 1, 1)
    while day.year == 2026:
        ours = sun_times(day, latitude, longitude, 8.0)
        for event in SunEvent:
            moment = ours.at(event)
            assert moment is not None, f"{city} {day}: no {event}"
            assert moment.astimezone(SHANGHAI).date() == day, f"{city} {day} {event}: {moment}"
            worst = max(worst, _from_reference(observer, event, moment))
        day += timedelta(days=1)
    assert worst <= TOLERANCE_S, f"{city}: {worst:.0f} s from the reference at worst"


def test_solstices_in_xunyang_fall_where_the_almanac_has_them() -> None:
    """Xunyang's winter sunset is near 17:25 and summer sunset near 19:20 local time."""
    december = sun_times(date(2026, 12, 21), *CITIES["Xunyang"], 8.0)
    june = sun_times(date(2026, 6, 21), *CITIES["Xunyang"], 8.0)
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


def test_an_impossible_place_is_refused() -> None:
    with pytest.raises(ValueError, match="latitude 95"):
        sun_times(date(2026, 1, 1), 95.0, 0.0, 0.0)


def _from_reference(observer: Observer, event: SunEvent, moment: datetime) -> float:
    """Seconds between `moment` and when astral's sun is at the event's altitude: the
    altitude error at `moment` over the rate the sun climbs or sinks there. (Asking astral for
    its event times instead fails on some dates for zones far from their longitude.)"""

    def altitude(at: datetime) -> float:
        return float(sun.elevation(observer, at, with_refraction=False))

    step = timedelta(seconds=60)
    rate = (altitude(moment + step) - altitude(moment - step)) / 120
    return abs((altitude(moment) + event.depression) / rate)


def _local(moment: datetime) -> int:
    local = moment.astimezone(SHANGHAI)
    return local.hour * 60 + local.minute
