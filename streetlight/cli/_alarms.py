"""`streetlight alarms`: export alarms, list the open ones, acknowledge and close them.

Operators' steps are stamped with the process's clock (wall time unless a shared simulated
clock is set) and recorded with who took them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from streetlight.cli._common import moment_option, settings_and_logging
from streetlight.domain import AlarmState
from streetlight.settings import CommonSettings
from streetlight.store import open_store, sessions
from streetlight.store.alarms import (
    AlarmStoreError,
    export_alarms,
    export_record,
    open_alarm_rows,
    operator_step,
    parse_alarm_id,
)


def add_parser(roles: Any) -> None:
    alarms = roles.add_parser("alarms", help="export, list, acknowledge and close alarms")
    verbs = alarms.add_subparsers(dest="verb", required=True, metavar="VERB")
    export = verbs.add_parser("export", help="alarms raised in a period, as JSON lines")
    export.add_argument("--from", dest="start", required=True, help="ISO 8601 with offset")
    export.add_argument("--to", dest="end", required=True, help="ISO 8601 with offset")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(handler=alarms_export)
    listing = verbs.add_parser("list", help="open alarms (not yet cleared), root causes first")
    listing.add_argument("--all", action="store_true", help="with the children under roots")
    listing.set_defaults(handler=alarms_list)
    for verb, what in (("ack", "acknowledge a raised alarm"), ("close", "close a cleared one")):
        step = verbs.add_parser(verb, help=what)
        step.add_argument("id", help="al-<number>")
        step.add_argument("--by", required=True, help="who (for the record)")
        step.add_argument("--note", default="")
        step.set_defaults(handler=alarms_step)


def alarms_export(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    start, end = moment_option("--from", args.start), moment_option("--to", args.end)
    if end <= start:
        raise AlarmStoreError(f"--to {args.end} is not after --from {args.start}")

    async def main() -> int:
        count = 0
        async with open_store(settings) as engine, sessions(engine)() as session:
            out = args.output.open("w") if args.output else sys.stdout
            try:
                async for record in export_alarms(session, start, end):
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    count += 1
            finally:
                if args.output:
                    out.close()
        return count

    count = asyncio.run(main())
    if args.output:
        print(f"{count} alarms written to {args.output}")
    return 0


def alarms_list(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)

    async def main() -> list[dict[str, Any]]:
        async with open_store(settings) as engine, sessions(engine)() as session:
            rows = await open_alarm_rows(session)
        return [export_record(row) for row in rows]

    records = asyncio.run(main())
    shown = [r for r in records if args.all or r["parent"] is None]
    for r in sorted(shown, key=lambda r: (r["parent"] is not None, str(r["raised_at"]))):
        under = f"  under {r['parent']}" if r["parent"] else ""
        print(
            f"{r['id']:<9} {r['severity']:<9} {r['type']:<16} {r['asset']:<26} "
            f"{r['state']:<12} raised {r['raised_at']}{under}"
        )
    print(f"{len(shown)} open alarms" + ("" if args.all else " (root causes)"))
    return 0


def alarms_step(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    alarm_id = parse_alarm_id(args.id)
    step = AlarmState.ACKNOWLEDGED if args.verb == "ack" else AlarmState.CLOSED

    async def main() -> str:
        async with open_store(settings) as engine, sessions(engine)() as session, session.begin():
            row = await operator_step(
                session, alarm_id, step, by=args.by, at=settings.clock().now(), note=args.note
            )
            return f"al-{row.id} ({row.type} on {row.asset_kind}:{row.asset_id}): {row.state}"

    print(asyncio.run(main()))  # an AlarmStoreError names what is refused
    return 0
