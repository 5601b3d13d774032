"""The renovation programme's own things (照亮工程, DESIGN.md section 2): projects with their
phases, the roads the survey found, and the spacing that says when a road stretch is dark.

A project renovates some sites in four phases: survey (调查摸底), implementation (施工),
completion acceptance (竣工验收) and handover to the maintainer (移交接管); each site is in one
project at most. A road is a centre line the survey recorded (a back street, a compound's
path), so that the stretches no installed lamp lights (有路无灯) can be found. What "dark"
means per road class is `DarkRoadRule`: farther than `factor` times the designed pole spacing of
the road's class from every installed lamp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType

from streetlight.domain.model import GeoPoint, RoadClass, check_id

MAX_ROAD_POINTS = 10_000


class ProjectPhase(StrEnum):
    """A renovation project's phases, in the order they start."""

    SURVEY = "survey"  # 调查摸底: needs, points and quantities all known
    IMPLEMENTATION = "implementation"  # 施工
    ACCEPTANCE = "acceptance"  # 竣工验收
    HANDOVER = "handover"  # 移交接管


# the record fields of each phase's dates, in phase order: survey_start, survey_end, ...
PHASE_FIELDS: tuple[str, ...] = tuple(
    f"{phase.value}_{edge}" for phase in ProjectPhase for edge in ("start", "end")
)


@dataclass(frozen=True, slots=True)
class Project:
    """A renovation project: its sites and the dates of its phases (each optional: a project
    in survey has no acceptance dates yet). A phase may end only once it has started, and the
    phases start in their order (they may overlap: one site is accepted while another is
    still being built)."""

    id: str
    name: str
    site_ids: tuple[str, ...] = ()
    survey_start: date | None = None
    survey_end: date | None = None
    implementation_start: date | None = None
    implementation_end: date | None = None
    acceptance_start: date | None = None
    acceptance_end: date | None = None
    handover_start: date | None = None
    handover_end: date | None = None

    def __post_init__(self) -> None:
        check_id("project", self.id)
        if not self.name.strip():
            raise ValueError("project name must not be empty")
        if len(set(self.site_ids)) != len(self.site_ids):
            raise ValueError(f"project {self.id!r}: a site is listed twice")
        for site_id in self.site_ids:
            check_id("site", site_id)
        # a set of sites: kept in id order, so a project reads back as it was given
        object.__setattr__(self, "site_ids", tuple(sorted(self.site_ids)))
        previous: tuple[ProjectPhase, date] | None = None
        for phase in ProjectPhase:
            start, end = self.dates(phase)
            if end is not None and start is None:
                raise ValueError(f"project {self.id!r}: {phase.value}_end without a start")
            if start is not None and end is not None and end < start:
                raise ValueError(
                    f"project {self.id!r}: {phase.value}_end ({end}) is before "
                    f"{phase.value}_start ({start})"
                )
            if start is None:
                continue
            if previous is not None and start < previous[1]:
                raise ValueError(
                    f"project {self.id!r}: {phase.value}_start ({start}) is before "
                    f"{previous[0].value}_start ({previous[1]}): the phases start in order"
                )
            previous = (phase, start)

    def dates(self, phase: ProjectPhase) -> tuple[date | None, date | None]:
        """A phase's first and last day (None: not fixed yet)."""
        start: date | None = getattr(self, f"{phase.value}_start")
        end: date | None = getattr(self, f"{phase.value}_end")
        return start, end

    def phase_on(self, day: date) -> ProjectPhase | None:
        """The phase the project is in on `day`: the last one started by then (None before
        the first); a project stays in handover once it is handed over."""
        current = None
        for phase in ProjectPhase:
            start, _end = self.dates(phase)
            if start is not None and start <= day:
                current = phase
        return current


@dataclass(frozen=True, slots=True)
class Road:
    """A road's centre line (WGS84, in order along the road) on a site, with its own class:
    a compound's residential path may run beside a branch street of the same site."""

    id: str
    name: str
    site_id: str
    road_class: RoadClass
    line: tuple[GeoPoint, ...]

    def __post_init__(self) -> None:
        check_id("road", self.id)
        check_id("site", self.site_id)
        if not self.name.strip():
            raise ValueError("road name must not be empty")
        if not 2 <= len(self.line) <= MAX_ROAD_POINTS:
            raise ValueError(
                f"road {self.id!r}: a line has 2..{MAX_ROAD_POINTS} points, got {len(self.line)}"
            )
        if len(set(self.line)) < 2:
            raise ValueError(f"road {self.id!r}: a line needs two distinct points")


# designed pole spacing per road class, metres: CJJ 45 mounting heights (main 10-12 m,
# secondary 8-10 m, branch 6-8 m, residential paths 4-6 m) at about three to four times the
# height apart, as renovation designs lay poles out
DEFAULT_POLE_SPACING_M: Mapping[RoadClass, float] = MappingProxyType(
    {
        RoadClass.MAIN: 40.0,
        RoadClass.SECONDARY: 35.0,
        RoadClass.BRANCH: 30.0,
        RoadClass.RESIDENTIAL_PATH: 25.0,
    }
)
DEFAULT_DARK_FACTOR = 1.5


@dataclass(frozen=True, slots=True)
class DarkRoadRule:
    """When a point of a road is dark: farther than `factor` times its class's designed pole
    spacing from every installed lamp. At 1.5, a row of poles at the designed spacing with one
    or two poles missing has no dark stretch yet; with three missing, one spacing is dark."""

    spacing_m: Mapping[RoadClass, float] = field(
        default_factory=lambda: dict(DEFAULT_POLE_SPACING_M)
    )
    factor: float = DEFAULT_DARK_FACTOR

    def __post_init__(self) -> None:
        missing = [road.value for road in RoadClass if road not in self.spacing_m]
        if missing:
            raise ValueError(f"pole spacing: none for road class {', '.join(missing)}")
        for road, spacing in self.spacing_m.items():
            if not 1.0 <= spacing <= 1000.0:
                raise ValueError(f"pole spacing: {road.value} must be 1..1000 m, got {spacing}")
        if not 0.5 <= self.factor <= 10.0:
            raise ValueError(f"dark-road factor must be 0.5..10, got {self.factor}")

    @classmethod
    def with_overrides(
        cls, spacing_m: Mapping[str, float], factor: float = DEFAULT_DARK_FACTOR
    ) -> DarkRoadRule:
        """The default spacing with some classes changed (``{"main": 45}``); an unknown class
        is refused, naming it."""
        spacing = dict(DEFAULT_POLE_SPACING_M)
        for name, value in spacing_m.items():
            try:
                spacing[RoadClass(name)] = float(value)
            except ValueError:
                known = ", ".join(road.value for road in RoadClass)
                raise ValueError(
                    f"pole spacing: unknown road class {name!r} (known: {known})"
                ) from None
        return cls(spacing, factor)

    def distance_m(self, road_class: RoadClass) -> float:
        """How far from every lamp a point of a road of this class is dark."""
        return self.factor * self.spacing_m[road_class]
