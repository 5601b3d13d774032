"""Reference sun times from NREL's Solar Position Algorithm (pvlib's SPA), for test_astro.py.

pvlib is not a dependency of the project: run this in a throwaway virtual environment.

    python3 -m venv /tmp/spa && /tmp/spa/bin/pip install pvlib==0.16.1
    /tmp/spa/bin/python tests/data/spa_sun_times.py > tests/data/spa_sun_times_2026.csv

(As run for the checked-in file: pvlib 0.16.1, numpy 2.4.6, pandas 3.1.1, Python 3.11.)

For each city and each local date of 2026 (China Standard Time, UTC+8, no daylight saving), the
moments the sun's centre stands at a topocentric elevation, without refraction, of

- -0.8333 degrees rising and setting: sunrise and sunset as SPA defines them (its h0': 0.5667
  degrees of refraction at the horizon and 0.2667 degrees of the sun's radius), at sea level;
- -6 degrees rising and setting: civil dawn and dusk (geometric, as civil twilight is defined).

Each is found by bisection on SPA's solar position (`pvlib.solarposition.spa_python`, the full
NREL algorithm) to a millisecond, between the local date's solar midnight and its transit (or
its transit and the next solar midnight), and written rounded to the second in local time.
delta_t (TT - UT1) is 69.2 s, IERS's figure for 2025-2026.

Why not `pvlib.solarposition.sun_rise_set_transit_spa` (SPA's appendix A.2 rise/set routine)?
It works from 0h UT of the date, and for a place east of about 90 degrees E the local morning
falls on the previous UT day: it then takes the sun's position a whole day late (`sub_a_day` in
`pvlib.spa.transit_sunrise_sunset`) and gives a sunrise off by one day's change of sunrise,
about a minute near the equinoxes here. `--check` prints how far that routine is from the
bisection above, event by event: sunsets agree to a second or two, sunrises do not.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pvlib

CITIES = {  # name: latitude, longitude (degrees N, E)
    "Sanya": (18.25, 109.51),
    "Guangzhou": (23.13, 113.26),
    "Jiujiang": (29.73, 115.99),
    "Beijing": (39.90, 116.40),
    "Mohe": (52.97, 122.54),
}
YEAR = 2026
UTC_OFFSET_H = 8
DELTA_T = 69.2
EVENTS = {"dawn": (-6.0, True), "sunrise": (-0.8333, True),
          "sunset": (-0.8333, False), "dusk": (-6.0, False)}  # fmt: skip
ITERATIONS = 26  # 11.5 h / 2**26: about a millisecond


def _elevation(unix: np.ndarray, latitude: float, longitude: float) -> np.ndarray:
    times = pd.DatetimeIndex(pd.to_datetime(unix, unit="s", utc=True))
    position = pvlib.solarposition.spa_python(
        times, latitude, longitude, altitude=0, delta_t=DELTA_T
    )
    return np.asarray(position["elevation"].to_numpy(), dtype=float)


def _crossings(
    days: pd.DatetimeIndex, latitude: float, longitude: float, target: float, rising: bool
) -> np.ndarray:
    """Unix seconds when the sun crosses `target` degrees on each local day."""
    midnight = days.tz_localize(f"Etc/GMT-{UTC_OFFSET_H}").tz_convert("UTC")
    # solar noon without the equation of time (at most 17 min off), then the half-day around it
    noon = midnight.as_unit("ms").asi8 / 1e3 + (12 + UTC_OFFSET_H - longitude / 15) * 3600
    low = noon - 11.5 * 3600 if rising else noon
    high = noon if rising else noon + 11.5 * 3600
    for _ in range(ITERATIONS):
        middle = (low + high) / 2
        above = _elevation(middle, latitude, longitude) > target
        # rising: above means the crossing is earlier; setting: later
        earlier = above if rising else ~above
        high = np.where(earlier, middle, high)
        low = np.where(earlier, low, middle)
    return np.asarray((low + high) / 2)  # pandas is untyped here: numpy, now typed, says so


def _local(unix: np.ndarray) -> list[str]:
    moments = pd.to_datetime(np.round(unix), unit="s", utc=True).tz_convert(
        f"Etc/GMT-{UTC_OFFSET_H}"
    )
    return [moment.strftime("%H:%M:%S") for moment in moments]


def table() -> dict[str, dict[str, np.ndarray]]:
    days = pd.date_range(f"{YEAR}-01-01", f"{YEAR}-12-31", freq="D")
    return {
        city: {
            event: _crossings(days, lat, lon, target, rising)
            for event, (target, rising) in EVENTS.items()
        }
        for city, (lat, lon) in CITIES.items()
    }


def write(found: dict[str, dict[str, np.ndarray]]) -> None:
    days = pd.date_range(f"{YEAR}-01-01", f"{YEAR}-12-31", freq="D")
    out = sys.stdout
    out.write(
        f"# NREL SPA (pvlib {pvlib.__version__}, delta_t {DELTA_T} s) sun times, local time "
        f"UTC+{UTC_OFFSET_H}, written by tests/data/spa_sun_times.py\n"
        "# dawn/dusk: centre at -6 deg; sunrise/sunset: centre at -0.8333 deg (no refraction)\n"
    )
    for city, (lat, lon) in CITIES.items():
        out.write(f"# city {city} {lat} {lon}\n")
    out.write("city,date," + ",".join(EVENTS) + "\n")
    for city, events in found.items():
        columns = [_local(events[event]) for event in EVENTS]
        for index, day in enumerate(days):
            cells = ",".join(column[index] for column in columns)
            out.write(f"{city},{day.date().isoformat()},{cells}\n")


def check(found: dict[str, dict[str, np.ndarray]]) -> None:
    """How far SPA's own rise/set routine is from the bisection, by city and event."""
    days = pd.date_range(f"{YEAR}-01-01", f"{YEAR}-12-31", freq="D")
    local = days.tz_localize(f"Etc/GMT-{UTC_OFFSET_H}") + pd.Timedelta(hours=12)
    for city, (lat, lon) in CITIES.items():
        routine = pvlib.solarposition.sun_rise_set_transit_spa(local, lat, lon, delta_t=DELTA_T)
        for event in ("sunrise", "sunset"):
            theirs = routine[event].map(lambda t: t.timestamp()).to_numpy(dtype=float)
            error = theirs - found[city][event]
            worst = int(np.argmax(np.abs(error)))
            print(
                f"{city:10} {event:8} sun_rise_set_transit_spa - bisection: worst "
                f"{error[worst]:+7.1f} s on {days[worst].date()}",
                file=sys.stderr,
            )


if __name__ == "__main__":
    result = table()
    if "--check" in sys.argv:
        check(result)
    else:
        write(result)
