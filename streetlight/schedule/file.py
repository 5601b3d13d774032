"""The schedule file (YAML): programs, calendars, special days and who follows which calendar.

    programs:
      evening:
        name: Dusk on, late-night dimming, dawn off
        steps:
          - {at: sunset+5, level: 100}
          - {at: "22:30", level: 50}
          - {at: "00:30", level: 30}
          - {at: sunrise-10, level: off}
        lux: {on_below: 30, off_above: 60, hold_s: 300, level: 100}
    calendars:
      xunyang:
        default: evening
        rules:                               # first match wins
          - {name: Spring Festival, special_days: [spring_festival], program: festive}
          - {name: summer, dates: 05-01..09-30, program: summer}
          - {name: weekend, weekdays: [fri, sat], program: weekend}
    special_days:
      spring_festival: [2027-02-05, 2027-02-06]
    assignments:
      district:XY: xunyang                   # scope:id -> calendar

Everything is checked before anything is saved; an error names the entry and the field.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from streetlight.schedule.calendars import WEEKDAYS, Calendar, GroupRef, Rule
from streetlight.schedule.expected import Schedule
from streetlight.schedule.programs import Program, ProgramError, ProgramSpec
from streetlight.yamlfile import read_yaml


def load_schedule_file(path: Path) -> Schedule:
    document = read_yaml(path, ProgramError) or {}
    try:
        return parse_schedule(document)
    except ProgramError as exc:
        raise ProgramError(f"{path}: {exc}") from None


def parse_schedule(document: Any) -> Schedule:
    if not isinstance(document, dict):
        raise ProgramError("expected a mapping with programs, calendars, special_days, assignments")
    unknown = set(document) - {"programs", "calendars", "special_days", "assignments"}
    if unknown:
        raise ProgramError(f"unknown section {min(unknown)!r}")
    programs = {
        pid: parse_program(pid, body) for pid, body in _mapping(document, "programs").items()
    }
    calendars = {cid: _calendar(cid, body) for cid, body in _mapping(document, "calendars").items()}
    special: dict[date, frozenset[str]] = {}
    for name, days in _mapping(document, "special_days").items():
        if not isinstance(days, list):
            raise ProgramError(f"special_days.{name}: expected a list of dates")
        for day in days:
            if not isinstance(day, date):
                raise ProgramError(f"special_days.{name}: {day!r} is not a date (YYYY-MM-DD)")
            special[day] = special.get(day, frozenset()) | {str(name)}
    assignments = {
        GroupRef.parse(str(group)): str(calendar)
        for group, calendar in _mapping(document, "assignments").items()
    }
    return Schedule(programs, calendars, assignments, special)


def parse_program(program_id: str, body: Any) -> Program:
    where = f"programs.{program_id}"
    if not isinstance(body, dict):
        raise ProgramError(f"{where}: expected a mapping")
    unknown = set(body) - {"name", "steps", "lux", "description"}
    if unknown:
        raise ProgramError(f"{where}: unknown field {min(unknown)!r}")
    steps = body.get("steps")
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise ProgramError(f"{where}.steps: expected a list of {{at, level}}")
    lux = body.get("lux")
    if lux is not None and not isinstance(lux, dict):
        raise ProgramError(f"{where}.lux: expected {{on_below, off_above, hold_s, level}}")
    spec = ProgramSpec(
        id=str(program_id),
        name=str(body.get("name", program_id)),
        steps=steps,
        lux=lux,
        description=str(body.get("description", "")),
    )
    return spec.build()


def program_document(program: Program) -> dict[str, Any]:
    """The inverse of `parse_program`, as stored and served."""
    document: dict[str, Any] = {
        "name": program.name,
        "steps": [
            {"at": str(step.trigger), "level": "off" if step.level is None else step.level}
            for step in program.steps
        ],
    }
    if program.lux is not None:
        lux = program.lux
        document["lux"] = {
            "on_below": lux.on_below,
            "off_above": lux.off_above,
            "hold_s": lux.hold_s,
            "level": lux.level,
        }
    if program.description:
        document["description"] = program.description
    return document


def calendar_document(calendar: Calendar) -> dict[str, Any]:
    rules = []
    for rule in calendar.rules:
        entry: dict[str, Any] = {"program": rule.program}
        if rule.name:
            entry["name"] = rule.name
        if rule.weekdays:
            entry["weekdays"] = [WEEKDAYS[d] for d in sorted(rule.weekdays)]
        if rule.dates is not None:
            (m1, d1), (m2, d2) = rule.dates
            entry["dates"] = f"{m1:02d}-{d1:02d}..{m2:02d}-{d2:02d}"
        if rule.special_days:
            entry["special_days"] = sorted(rule.special_days)
        rules.append(entry)
    return {"default": calendar.default_program, "rules": rules}


def parse_calendar(calendar_id: str, body: Any) -> Calendar:
    return _calendar(calendar_id, body)


def _calendar(calendar_id: str, body: Any) -> Calendar:
    where = f"calendars.{calendar_id}"
    if not isinstance(body, dict) or "default" not in body:
        raise ProgramError(f"{where}.default: missing (the program when no rule matches)")
    rules = []
    for index, raw in enumerate(body.get("rules") or []):
        rules.append(_rule(f"{where}.rules[{index}]", raw))
    return Calendar(str(calendar_id), str(body["default"]), tuple(rules))


def _rule(where: str, raw: Any) -> Rule:
    if not isinstance(raw, dict) or "program" not in raw:
        raise ProgramError(f"{where}.program: missing")
    unknown = set(raw) - {"name", "program", "weekdays", "dates", "special_days"}
    if unknown:
        raise ProgramError(f"{where}: unknown field {min(unknown)!r}")
    weekdays = set()
    for day in raw.get("weekdays") or []:
        if str(day).lower()[:3] not in WEEKDAYS:
            raise ProgramError(f"{where}.weekdays: {day!r} is not one of {', '.join(WEEKDAYS)}")
        weekdays.add(WEEKDAYS.index(str(day).lower()[:3]))
    dates = None
    if raw.get("dates") is not None:
        dates = _date_range(f"{where}.dates", str(raw["dates"]))
    special = frozenset(str(name) for name in raw.get("special_days") or [])
    if not (weekdays or dates or special):
        raise ProgramError(f"{where}: give weekdays, dates or special_days (else use default)")
    return Rule(str(raw["program"]), frozenset(weekdays), dates, special, str(raw.get("name", "")))


def _date_range(where: str, text: str) -> tuple[tuple[int, int], tuple[int, int]]:
    start, sep, end = text.partition("..")
    first: date | None
    last: date | None
    try:
        first = date.fromisoformat(f"2000-{start.strip()}")  # a leap year: 02-29 is a date
        last = date.fromisoformat(f"2000-{end.strip()}")
    except ValueError:
        first = last = None
    if not sep or first is None or last is None:
        raise ProgramError(f"{where}: {text!r} is not MM-DD..MM-DD")
    return (first.month, first.day), (last.month, last.day)


def _mapping(document: dict[str, Any], key: str) -> dict[Any, Any]:
    value = document.get(key) or {}
    if not isinstance(value, dict):
        raise ProgramError(f"{key}: expected a mapping")
    return value
