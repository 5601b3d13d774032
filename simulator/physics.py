"""The environment lamps live in: sun, daylight, weather, supply voltage, temperature.

Everything here is a pure function of time (and a noise key), so values are reproducible.
Times are seconds since the epoch (simulated), positions WGS84 degrees.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from astral import Observer
from astral.sun import elevation

from simulator import noise

TWILIGHT_LUX = 400.0  # illuminance with the sun at the horizon, clear sky


def sun_elevation(lat: float, lon: float, seconds: float) -> float:
    """Degrees above the horizon (astral's NREL-derived solar position)."""
    return float(elevation(Observer(lat, lon), datetime.fromtimestamp(seconds, UTC)))


def clear_sky_lux(elevation_deg: float) -> float:
    """Horizontal illuminance under a clear sky: daylight above the horizon, twilight below.

    About 400 lx at sunset, 3 lx at the end of civil twilight (-6 deg), and ~100,000 lx at
    high sun; continuous across the horizon.
    """
    if elevation_deg >= 0:
        height: float = math.sin(math.radians(elevation_deg)) ** 1.3
        return TWILIGHT_LUX + 120_000.0 * height
    if elevation_deg >= -18:
        return TWILIGHT_LUX * 10 ** (elevation_deg * 2.12 / 6.0)
    return 0.001


def cloud_factor(key: int, seconds: float) -> float:
    """Daylight let through by clouds: 0.2 (overcast) to 1.0, drifting over half-hours."""
    slow = noise.smooth(key, seconds, 3600.0)
    fast = noise.smooth(key ^ 0x5A5A, seconds, 600.0)
    return min(1.0, max(0.2, 0.7 + 0.25 * slow + 0.1 * fast))


def ambient_lux(lat: float, lon: float, key: int, seconds: float, weather: float = 1.0) -> float:
    """What a cabinet's light sensor reads: sun, clouds, weather (a storm is ~0.01), noise."""
    lux = clear_sky_lux(sun_elevation(lat, lon, seconds)) * cloud_factor(key, seconds) * weather
    return max(0.0, lux * (1.0 + 0.02 * noise.signed(key ^ 0x1111, int(seconds))))


def grid_voltage(key: int, seconds: float, nominal: float, utc_offset_h: float) -> float:
    """Supply voltage: a daily swing (higher at night, when the feeder is lightly loaded),
    a slow random drift over tens of minutes, and a little noise per reading."""
    local_hours = (seconds / 3600.0 + utc_offset_h) % 24.0
    daily = 0.02 * math.cos(2 * math.pi * (local_hours - 3.0) / 24.0)
    drift = 0.012 * noise.smooth(key, seconds, 1800.0)
    jitter = 0.0015 * noise.signed(key ^ 0x2222, int(seconds))
    return nominal * (1.0 + daily + drift + jitter)


def ambient_temperature(seconds: float, utc_offset_h: float) -> float:
    """Air temperature in degC for a place like Jiujiang: 5 degC in January, 29 in July,
    warmest at 14:00 and coolest before dawn."""
    day_of_year = (seconds / 86400.0) % 365.2425
    seasonal = 17.0 - 12.0 * math.cos(2 * math.pi * (day_of_year - 15.0) / 365.2425)
    local_hours = (seconds / 3600.0 + utc_offset_h) % 24.0
    daily = 4.0 * math.cos(2 * math.pi * (local_hours - 14.0) / 24.0)
    return seasonal + daily
