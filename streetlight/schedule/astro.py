"""Sun times for a place and a local date: sunrise, sunset, civil dawn and dusk.

The sun's position is astral's (`astral.sun.elevation`, NOAA's solar equations); an event is
the moment the sun's centre stands `depression` degrees below the horizon, in NREL SPA's
conventions: 0.8333 for sunrise and sunset (0.5667 of refraction at the horizon and 0.2667 of
the sun's radius, SPA's h0'), 6 for civil twilight, both without astral's own refraction term.
The moment is found by bisection, to the second, between the local date's solar midnight and
its solar noon (rising) or its noon and the next midnight (setting), so it is always the
event of the local date asked for, whatever the UTC date (astral's own `sunrise` works by UTC
date and, east of 90 degrees E, misses the mornings whose sunrise falls near 00:00 UTC).

tests/test_astro.py holds every day of 2026 at five Chinese cities from 18 to 53 degrees N
within 60 s of SPA (pvlib; tests/data/spa_sun_times_2026.csv): the worst is about 5 s.

The sun never sets in a polar summer nor rises in a polar winter; `SunTimes` then holds None
for those events, and programs fall back on their other triggers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from astral import Observer
from astral.sun import elevation, noon

HALF_DAY_S = 43_200


class SunEvent(StrEnum):
    SUNRISE = "sunrise"
    SUNSET = "sunset"
    DAWN = "dawn"  # civil dawn: the sun 6 degrees below the horizon, rising
    DUSK = "dusk"  # civil dusk: the sun 6 degrees below the horizon, setting

    @property
    def depression(self) -> float:
        return 6.0 if self in (SunEvent.DAWN, SunEvent.DUSK) else 0.8333

    @property
    def rising(self) -> bool:
        return self in (SunEvent.SUNRISE, SunEvent.DAWN)


@dataclass(frozen=True, slots=True)
class SunTimes:
    """One local date's sun events at one place, as UTC datetimes (None: it does not occur)."""

    day: date
    dawn: datetime | None
    sunrise: datetime | None
    sunset: datetime | None
    dusk: datetime | None

    def at(self, event: SunEvent) -> datetime | None:
        return {
            SunEvent.DAWN: self.dawn,
            SunEvent.SUNRISE: self.sunrise,
            SunEvent.SUNSET: self.sunset,
            SunEvent.DUSK: self.dusk,
        }[event]


def _event(observer: Observer, solar_noon: int, event: SunEvent) -> datetime | None:
    """The second the sun's centre crosses the event's altitude in the half day before (rising)
    or after (setting) `solar_noon` (epoch seconds); None if it stays above or below it."""

    def height(epoch_s: int) -> float:
        moment = datetime.fromtimestamp(epoch_s, UTC)
        return float(elevation(observer, moment, with_refraction=False)) + event.depression

    # below the altitude at `low`, above it at `high`, whichever way the sun moves
    low, high = (
        (solar_noon - HALF_DAY_S, solar_noon)
        if event.rising
        else (solar_noon + HALF_DAY_S, solar_noon)
    )
    if height(low) >= 0 or height(high) < 0:
        return None  # the sun stays above (or below) that altitude all day
    while abs(high - low) > 1:
        middle = (low + high) // 2
        if height(middle) < 0:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high if event.rising else low, UTC)


@lru_cache(maxsize=65_536)
def sun_times(day: date, latitude: float, longitude: float, utc_offset_h: float) -> SunTimes:
    """The sun events of the local date `day` at a place whose local time is UTC +
    `utc_offset_h` on that date."""
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise ValueError(f"no such place: latitude {latitude}, longitude {longitude}")
    observer = Observer(latitude=latitude, longitude=longitude, elevation=0.0)
    # the UTC date whose solar noon at this longitude is nearest the local date's noon
    # (the same date, unless the zone lies far from its longitude's solar time)
    solar_day = day + timedelta(days=round((longitude / 15 - utc_offset_h) / 24))
    solar_noon = int(noon(observer, solar_day).timestamp())
    found = {event: _event(observer, solar_noon, event) for event in SunEvent}
    return SunTimes(
        day=day,
        dawn=found[SunEvent.DAWN],
        sunrise=found[SunEvent.SUNRISE],
        sunset=found[SunEvent.SUNSET],
        dusk=found[SunEvent.DUSK],
    )
