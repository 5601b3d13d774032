"""What operators decide about lighting, and what it means for each lamp at each moment.

Programs (steps through a night, on sun events or clock times, with a light-sensor rule),
calendars that choose a program by date, special days, who follows which calendar, and
overrides; the schedule file they are written in; the check a schedule passes before it is
saved; the expected state of every lamp at a moment (`Evaluator`), with each cabinet's light
sensor read through its hold time (`LuxBoard`); the planning view of a
site's nights; and the notice that tells the controller a saved change is there to read.
The store keeps a schedule (streetlight.store.schedules); the controller carries it out.
"""

from streetlight.schedule.astro import SunEvent, SunTimes, sun_times
from streetlight.schedule.calendars import SCOPES, Calendar, GroupRef, Groups, Override, Rule
from streetlight.schedule.check import check_schedule
from streetlight.schedule.expected import DarkAt, Evaluator, Expected, Key, Schedule, site_places
from streetlight.schedule.file import load_schedule_file, parse_schedule
from streetlight.schedule.lux import LuxBoard, LuxState
from streetlight.schedule.notice import announce
from streetlight.schedule.plan import NightPlan, plan
from streetlight.schedule.programs import NOON, LuxRule, Place, Program, ProgramError

__all__ = [
    "NOON",
    "SCOPES",
    "Calendar",
    "DarkAt",
    "Evaluator",
    "Expected",
    "GroupRef",
    "Groups",
    "Key",
    "LuxBoard",
    "LuxRule",
    "LuxState",
    "NightPlan",
    "Override",
    "Place",
    "Program",
    "ProgramError",
    "Rule",
    "Schedule",
    "SunEvent",
    "SunTimes",
    "announce",
    "check_schedule",
    "load_schedule_file",
    "parse_schedule",
    "plan",
    "site_places",
    "sun_times",
]
