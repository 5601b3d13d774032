"""Sun times for a place and a local date: sunrise, sunset, civil dawn and dusk.

The solar position follows NOAA's general solar position equations (Meeus, "Astronomical
Algorithms", low-precision form): declination and the equation of time from the Julian
century. An event is where the sun's centre is `depression` degrees below the horizon
(0.833 for sunrise and sunset: refraction and the sun's radius; 6 for civil twilight), found
by evaluating the sun at the estimated moment and correcting, three times over. The tests
hold it within 60 s of astral for Xunyang and other Chinese cities on every day of a year.

The sun never sets in a polar summer nor rises in a polar winter; `SunTimes` then holds None
for those events, and programs fall back on their other triggers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

J2000 = 2451545.0
UNIX_EPOCH_JD = 2440587.5
ITERATIONS = 3


class SunEvent(StrEnum):
    SUNRISE = "sunrise"
    SUNSET = "sunset"
    DAWN = "dawn"  # civil dawn: the sun 6 degrees below the horizon, rising
    DUSK = "dusk"  # civil dusk: the sun 6 degrees below the horizon, setting

    @property
    def depression(self) -> float:
        return 6.0 if self in (SunEvent.DAWN, SunEvent.DUSK) else 0.833

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


def _julian_century(moment_unix: float) -> float:
    return (moment_unix / 86_400.0 + UNIX_EPOCH_JD - J2000) / 36_525.0


def _declination_and_equation_of_time(jc: float) -> tuple[float, float]:
    """The sun's declination (radians) and the equation of time (minutes) at a Julian century."""
    mean_longitude = math.radians((280.46646 + jc * (36_000.76983 + jc * 0.0003032)) % 360)
    mean_anomaly = math.radians(357.52911 + jc * (35_999.05029 - 0.0001537 * jc))
    eccentricity = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    centre = (
        math.sin(mean_anomaly) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + math.sin(2 * mean_anomaly) * (0.019993 - 0.000101 * jc)
        + math.sin(3 * mean_anomaly) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * jc)
    apparent_longitude = math.radians(
        math.degrees(mean_longitude) + centre - 0.00569 - 0.00478 * math.sin(omega)
    )
    seconds = 21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))
    obliquity = math.radians(23 + (26 + seconds / 60) / 60 + 0.00256 * math.cos(omega))
    declination = math.asin(math.sin(obliquity) * math.sin(apparent_longitude))
    y = math.tan(obliquity / 2) ** 2
    equation = (
        y * math.sin(2 * mean_longitude)
        - 2 * eccentricity * math.sin(mean_anomaly)
        + 4 * eccentricity * y * math.sin(mean_anomaly) * math.cos(2 * mean_longitude)
        - 0.5 * y * y * math.sin(4 * mean_longitude)
        - 1.25 * eccentricity * eccentricity * math.sin(2 * mean_anomaly)
    )
    return declination, 4 * math.degrees(equation)


def _event(day: date, latitude: float, longitude: float, event: SunEvent) -> datetime | None:
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    # first guess: the event at the standard time of the day at that longitude
    guess = midnight + (720 - 4 * longitude) * 60
    phi = math.radians(latitude)
    for _ in range(ITERATIONS):
        declination, equation = _declination_and_equation_of_time(_julian_century(guess))
        cos_hour = (
            math.sin(math.radians(-event.depression)) - math.sin(phi) * math.sin(declination)
        ) / (math.cos(phi) * math.cos(declination))
        if not -1.0 <= cos_hour <= 1.0:
            return None  # the sun stays above (or below) that altitude all day
        hour_angle = math.degrees(math.acos(cos_hour))
        noon_minutes = 720 - 4 * longitude - equation
        minutes = noon_minutes - 4 * hour_angle if event.rising else noon_minutes + 4 * hour_angle
        guess = midnight + minutes * 60
    return datetime.fromtimestamp(round(guess), UTC)


@lru_cache(maxsize=65_536)
def sun_times(day: date, latitude: float, longitude: float, utc_offset_h: float) -> SunTimes:
    """The sun events of the local date `day` at a place whose local time is UTC +
    `utc_offset_h` on that date."""
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise ValueError(f"no such place: latitude {latitude}, longitude {longitude}")
    # the UTC date whose solar noon at this longitude is nearest the local date's noon
    # (the same date, unless the zone lies far from its longitude's solar time)
    solar_day = day + timedelta(days=round((longitude / 15 - utc_offset_h) / 24))
    found = {event: _event(solar_day, latitude, longitude, event) for event in SunEvent}
    return SunTimes(
        day=day,
        dawn=found[SunEvent.DAWN],
        sunrise=found[SunEvent.SUNRISE],
        sunset=found[SunEvent.SUNSET],
        dusk=found[SunEvent.DUSK],
    )
