"""Checking a schedule as a whole before it is saved: references, and steps at every place."""

from __future__ import annotations

from streetlight.schedule.calendars import Groups
from streetlight.schedule.expected import Evaluator, Schedule


def check_schedule(schedule: Schedule, groups: Groups, year: int) -> None:
    """Refuse a schedule with unknown references, or a program whose steps cross at a site that
    follows it on some day of `year`."""
    evaluator = Evaluator(groups, schedule)  # checks the references
    used: dict[str, set[str]] = {}  # program -> sites that may run it
    for calendar_id, sites in evaluator.sites_by_calendar().items():
        calendar = schedule.calendars[calendar_id]
        for program_id in (calendar.default_program, *(r.program for r in calendar.rules)):
            used.setdefault(program_id, set()).update(sites)
    places = evaluator.places
    for program_id, sites in used.items():
        program = schedule.programs[program_id]
        # the extremes of latitude are where sun-relative steps move the most
        extremes = sorted(sites, key=lambda s: places[s].latitude)
        for site in {extremes[0], extremes[-1]}:
            program.check(places[site], year)
