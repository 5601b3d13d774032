"""`streetlight acceptance run|show|rerun|accept`: a site's handover acceptance (竣工验收).

`run` gathers the window's data from the store and InfluxDB, judges the five criteria, stores
the run with its inputs and prints the verdicts with their findings (lamp and night);
`--json PATH` writes the result, `--pdf PATH` and `--html PATH` the committee's report
(Chinese, or `--lang en`; times in the district's zone, which the result keeps). `show`
prints a stored run (and its report likewise), `rerun` evaluates its stored inputs again and
says whether the result is the same, `accept` hands a passed run's site over to its new
maintainer (the ledger's handover). `acceptance_result` builds and stores a run and returns its
result: a report writer takes it from there.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from datetime import date
from pathlib import Path
from typing import Any

from streetlight.acceptance import (
    AcceptanceCriteria,
    AcceptanceResult,
    Verdict,
    Window,
    accept_run,
    gather,
    load_criteria,
    record_run,
    rerun,
    stored_result,
    stored_run,
    to_json,
    write_points,
)
from streetlight.cli._common import OptionError, settings_and_logging
from streetlight.influx import InfluxClient
from streetlight.reports import LANGS, Lang, acceptance_html, acceptance_pdf
from streetlight.settings import CommonSettings
from streetlight.store import open_store, sessions


def _night(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_parser(roles: Any) -> None:
    parser = roles.add_parser("acceptance", help="handover acceptance of a site (竣工验收)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    run = verbs.add_parser("run", help="judge a site over a window of nights and store the run")
    run.add_argument("--site", required=True, help="a site id")
    run.add_argument("--from", dest="first", required=True, type=_night,
                     help="the first night (its evening's date)")  # fmt: skip
    run.add_argument("--to", dest="last", required=True, type=_night, help="the last night")
    run.add_argument("--criteria", type=Path, metavar="PATH", help="thresholds (YAML)")
    run.add_argument("--json", type=Path, metavar="PATH", help="write the result as JSON")
    _report_options(run)
    run.add_argument("--by", default=None, help="who runs it (default: the login name)")
    run.set_defaults(handler=acceptance_run)
    show = verbs.add_parser("show", help="a stored run's verdicts and findings")
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--json", type=Path, metavar="PATH", help="write the result as JSON")
    _report_options(show)
    show.set_defaults(handler=acceptance_show)
    again = verbs.add_parser("rerun", help="evaluate a stored run's inputs again")
    again.add_argument("run_id", metavar="RUN_ID")
    again.set_defaults(handler=acceptance_rerun)
    accept = verbs.add_parser("accept", help="accept a passed run: hand its site over")
    accept.add_argument("run_id", metavar="RUN_ID")
    accept.add_argument("--maintainer", required=True, help="the receiving maintainer (id or name)")
    accept.add_argument("--from", dest="on", required=True, type=_night,
                        help="the day it maintains the site from")  # fmt: skip
    accept.add_argument("--by", required=True, help="who accepts (for the record)")
    accept.set_defaults(handler=acceptance_accept)


async def acceptance_result(args: argparse.Namespace, settings: CommonSettings) -> AcceptanceResult:
    """Gather, judge and store one run as `acceptance run` is asked; its result."""
    window = Window(args.site, args.first, args.last)
    by = args.by or getpass.getuser()
    return await record_acceptance(settings, window, load_criteria(args.criteria), by=by)


async def record_acceptance(
    settings: CommonSettings, window: Window, criteria: AcceptanceCriteria, *, by: str
) -> AcceptanceResult:
    """Gather, judge and store one run of the store and InfluxDB the settings name, now by
    their clock (the demo's too); its result."""
    now = settings.clock().now()
    async with open_store(settings) as engine, InfluxClient.from_settings(settings) as influx:
        async with sessions(engine)() as session:
            inputs = await gather(
                session, influx, window, criteria, profiles_dir=settings.profiles_dir, now=now
            )
        async with sessions(engine)() as session, session.begin():
            result = await record_run(session, inputs, criteria, by=by, now=now)
        await write_points(influx, result)  # for the acceptance dashboard
        return result


def acceptance_run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    result = asyncio.run(acceptance_result(args, settings))
    _write_json(args.json, result)
    print_result(result)
    _write_report(args, result)
    return 0 if result.verdict is Verdict.PASS else 1


def acceptance_show(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)

    async def main() -> AcceptanceResult:
        async with open_store(settings) as engine, sessions(engine)() as session:
            return stored_result(await stored_run(session, args.run_id))

    result = asyncio.run(main())
    _write_json(args.json, result)
    print_result(result)
    _write_report(args, result)
    return 0


def acceptance_rerun(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)

    async def main() -> bool:
        async with open_store(settings) as engine, sessions(engine)() as session:
            return (await rerun(session, args.run_id)).identical

    if asyncio.run(main()):
        print(f"run {args.run_id}: re-run from its stored inputs: the same result")
        return 0
    print(f"run {args.run_id}: re-run from its stored inputs: a DIFFERENT result")
    return 1


def acceptance_accept(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    now = settings.clock().now()

    async def main() -> tuple[str, int]:
        async with open_store(settings) as engine, sessions(engine)() as session:
            async with session.begin():
                run, handover = await accept_run(
                    session, args.run_id, maintainer=args.maintainer, on=args.on, by=args.by,
                    now=now,
                )  # fmt: skip
            return run.site, handover

    site, handover = asyncio.run(main())
    print(
        f"run {args.run_id} accepted: site {site} handed over to {args.maintainer} from "
        f"{args.on.isoformat()} (handover {handover})"
    )
    return 0


def _report_options(parser: argparse.ArgumentParser) -> None:
    """The committee's report (竣工验收报告) of the run, written where asked."""
    parser.add_argument("--pdf", type=Path, metavar="PATH", help="write the report as PDF")
    parser.add_argument("--html", type=Path, metavar="PATH", help="write the report as HTML")
    parser.add_argument("--lang", choices=LANGS, default="zh", help="the report's language")


def _write_report(args: argparse.Namespace, result: AcceptanceResult) -> None:
    lang: Lang = "en" if args.lang == "en" else "zh"
    if args.html is not None:
        args.html.write_text(acceptance_html(result, lang), encoding="utf-8")
        print(f"written {args.html}")
    if args.pdf is not None:
        args.pdf.write_bytes(acceptance_pdf(result, lang))
        print(f"written {args.pdf}")


def _write_json(path: Path | None, result: AcceptanceResult) -> None:
    if path is None:
        return
    try:
        path.write_bytes(to_json(result) + b"\n")
    except OSError as exc:
        raise OptionError(f"--json {path}: cannot write: {exc.strerror}") from exc


def print_result(result: AcceptanceResult) -> None:
    """The verdict table, then each failed criterion's findings (lamp and night)."""
    print(
        f"acceptance {result.run_id}: site {result.site} {result.site_name} "
        f"({result.road_class}, {result.lamps} lamps), nights {result.first_night} to "
        f"{result.last_night}: {result.verdict.value.upper()}"
    )
    rows = [("#", "criterion", "verdict", "figure", "findings")]
    for criterion in result.criteria:
        figure = ", ".join(f"{k} {v}" for k, v in list(criterion.figures.items())[:2])
        rows.append((str(criterion.criterion.number), criterion.criterion.value,
                     criterion.verdict.value, figure, str(len(criterion.findings))))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    for finding in result.findings:
        night = finding.night.isoformat() if finding.night else "-"
        print(f"  [{finding.criterion.number}] {finding.asset or '-'}  night {night}  "
              f"{finding.key}: {finding.detail}")  # fmt: skip
