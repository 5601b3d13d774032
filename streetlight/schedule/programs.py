"""Lighting programs: what a lamp should do through one night.

A program is ordered steps, each a trigger and a level (off, or on at 0-100 %):

    on at sunset+5 (or when lux < 30, whichever is first); 50 % at 22:30; 30 % at 00:30;
    off at sunrise-10

A trigger is a fixed local time or a sun event (sunset, sunrise, civil dusk, civil dawn) with
an offset in minutes. A program's night runs from local noon to the next local noon: steps at
or after noon happen that evening, steps before noon the next morning, so the order of the
steps is the order of the night. Before the first step and after the last, the level is the
last step's (a program ends with off).

An optional light sensor rule brings lamps on (at `level`) whenever the steps say off and the
cabinet's lux is below `on_below` (dusk before the on-step, a dark storm in the afternoon),
and in the morning takes them off when it is above `off_above` before the off-step: whichever
is first. Each change needs its condition held for `hold_s`, so a cloud or a headlight does
not flicker the street; see `controller.schedule.lux`.

Programs are checked when built: levels 0-100, offsets within +-180 minutes, steps in the
order of the night on every day of the year at the place they serve (no overlapping steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from streetlight.errors import StreetlightError
from streetlight.schedule.astro import SunEvent, SunTimes, sun_times

MAX_OFFSET_MIN = 180
NOON = time(12, 0)


class ProgramError(StreetlightError):
    """A program, calendar or override that cannot be saved; the text names the field."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where a program runs: coordinates for the sun, and the local time zone."""

    latitude: float
    longitude: float
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def sun(self, day: date) -> SunTimes:
        noon = datetime.combine(day, NOON, self.tz)
        offset = noon.utcoffset()
        hours = offset.total_seconds() / 3600 if offset is not None else 0.0
        return sun_times(day, self.latitude, self.longitude, hours)


@dataclass(frozen=True, slots=True)
class Trigger:
    """A fixed local time (`at`), or a sun event with an offset in minutes."""

    at: time | None = None
    sun: SunEvent | None = None
    offset_min: int = 0

    def __post_init__(self) -> None:
        if (self.at is None) == (self.sun is None):
            raise ProgramError("trigger: give either a local time or a sun event")
        if self.at is not None and self.offset_min:
            raise ProgramError("trigger.offset_min: only a sun event takes an offset")
        if abs(self.offset_min) > MAX_OFFSET_MIN:
            raise ProgramError(
                f"trigger.offset_min: {self.offset_min} is beyond +-{MAX_OFFSET_MIN} minutes"
            )

    @classmethod
    def parse(cls, text: str) -> Trigger:
        """'22:30', 'sunset', 'sunset+5', 'sunrise-10', 'dusk', 'dawn+15'."""
        text = text.strip()
        for event in SunEvent:
            if text.startswith(event.value):
                rest = text[len(event.value) :].strip()
                try:
                    offset = int(rest) if rest else 0
                except ValueError:
                    raise ProgramError(
                        f"trigger {text!r}: offset must be +N or -N minutes"
                    ) from None
                return cls(sun=event, offset_min=offset)
        try:
            return cls(at=time.fromisoformat(text))
        except ValueError:
            raise ProgramError(
                f"trigger {text!r}: expected HH:MM or a sun event (sunset, sunrise, dusk, dawn) "
                f"with an optional offset, e.g. sunset+5"
            ) from None

    def __str__(self) -> str:
        if self.at is not None:
            return self.at.strftime("%H:%M")
        assert self.sun is not None
        return f"{self.sun.value}{self.offset_min:+d}" if self.offset_min else self.sun.value

    def moment(self, night: date, place: Place) -> datetime | None:
        """When it fires in the night that starts on local date `night` (None: the sun event
        does not happen that day)."""
        tz = place.tz
        if self.at is not None:
            day = night if self.at >= NOON else night + timedelta(days=1)
            return datetime.combine(day, self.at, tz).astimezone(UTC)
        assert self.sun is not None
        # evening events belong to this date, morning events to the next
        day = night if self.sun in (SunEvent.SUNSET, SunEvent.DUSK) else night + timedelta(days=1)
        base = place.sun(day).at(self.sun)
        return None if base is None else base + timedelta(minutes=self.offset_min)


@dataclass(frozen=True, slots=True)
class Step:
    trigger: Trigger
    level: int | None  # None: off; else on at this dim level (%)

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= 100:
            raise ProgramError(f"step {self.trigger}: level {self.level} is outside 0-100")


@dataclass(frozen=True, slots=True)
class LuxRule:
    on_below: float
    off_above: float
    hold_s: float = 300.0
    level: int = 100  # the level lux brings lamps on at

    def __post_init__(self) -> None:
        if not 0 <= self.on_below < self.off_above:
            raise ProgramError(
                f"lux: off_above ({self.off_above}) must be above on_below ({self.on_below}) >= 0"
            )
        if not 0 <= self.hold_s <= 3600:
            raise ProgramError(f"lux.hold_s: {self.hold_s} is outside 0-3600 s")
        if not 0 <= self.level <= 100:
            raise ProgramError(f"lux.level: {self.level} is outside 0-100")


@dataclass(frozen=True, slots=True)
class Program:
    id: str
    name: str
    steps: tuple[Step, ...]
    lux: LuxRule | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.steps:
            raise ProgramError(f"program {self.id}: steps: at least one step is needed")

    def check(self, place: Place, year: int) -> None:
        """Refuse steps whose order changes on some day of `year` at `place`."""
        day = date(year, 1, 1)
        while day.year == year:
            moments = self.moments(day, place)
            for (a, at_a), (b, at_b) in pairwise(moments):
                if at_b <= at_a:
                    raise ProgramError(
                        f"program {self.id}: steps: {a.trigger} ({_local(at_a, place)}) is not "
                        f"before {b.trigger} ({_local(at_b, place)}) on {day.isoformat()}"
                    )
            day += timedelta(days=1)

    def moments(self, night: date, place: Place) -> list[tuple[Step, datetime]]:
        """The steps of the night starting on `night`, with when each fires (in order)."""
        out = []
        for step in self.steps:
            moment = step.trigger.moment(night, place)
            if moment is not None:
                out.append((step, moment))
        return out

    def level_at(self, moment: datetime, place: Place) -> int | None:
        """The level the steps give at `moment` (None: off), lux aside."""
        local = moment.astimezone(place.tz)
        night = local.date() if local.time() >= NOON else local.date() - timedelta(days=1)
        level = self.steps[-1].level
        for step, at in self.moments(night, place):
            if at > moment:
                break
            level = step.level
        return level

    def changes(self, night: date, place: Place) -> list[tuple[datetime, int | None]]:
        """When the level changes in the night starting on `night`, and to what."""
        out: list[tuple[datetime, int | None]] = []
        current = self.steps[-1].level
        for step, at in self.moments(night, place):
            if step.level != current:
                out.append((at, step.level))
                current = step.level
        return out


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    """A program as people write it (YAML or the API), before it is checked."""

    id: str
    name: str
    steps: Sequence[dict[str, object]]
    lux: dict[str, float] | None = None
    description: str = ""

    def build(self) -> Program:
        steps = []
        for index, raw in enumerate(self.steps):
            where = f"program {self.id}: steps[{index}]"
            unknown = set(raw) - {"at", "level"}
            if unknown:
                raise ProgramError(f"{where}: unknown field {min(unknown)!r}")
            if "at" not in raw:
                raise ProgramError(f"{where}.at: missing (HH:MM or e.g. sunset+5)")
            level = raw.get("level", "off")
            try:
                trigger = Trigger.parse(str(raw["at"]))
                steps.append(Step(trigger, _level(level)))
            except ProgramError as exc:
                raise ProgramError(f"{where}: {exc}") from None
        lux = None
        if self.lux is not None:
            try:
                lux = LuxRule(**self.lux)  # type: ignore[arg-type]
            except TypeError as exc:
                raise ProgramError(f"program {self.id}: lux: {exc}") from None
            except ProgramError as exc:
                raise ProgramError(f"program {self.id}: {exc}") from None
        return Program(self.id, self.name, tuple(steps), lux, self.description)


def _level(raw: object) -> int | None:
    if raw == "off" or raw is None or raw is False:  # YAML reads a bare off as false
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ProgramError(f"level {raw!r}: expected 'off' or a whole number 0-100")
    if not 0 <= raw <= 100:
        raise ProgramError(f"level {raw} is outside 0-100")
    return raw


def _local(moment: datetime, place: Place) -> str:
    return moment.astimezone(place.tz).strftime("%H:%M")
