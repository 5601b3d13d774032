"""`streetlight workorders`: list the ledger, take a crew's step, record a site's handover.

The arguments are declared in streetlight/cli/_controller.py. Crews' steps are stamped with
the process's clock (wall time unless a shared simulated clock is set), as `alarms ack` is.
"""

# ruff: noqa: T201 - a command's output is printed, as in every */cli.py (pyproject.toml)

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from controller.ledger import PEOPLE_STEPS, order_label, parse_order_id
from controller.ledger_store import list_orders, order_record, people_step, record_handover
from streetlight.cli._common import moment_option, settings_and_logging
from streetlight.settings import CommonSettings
from streetlight.store import open_engine, sessions
from streetlight.store.models import AlarmRow


def workorders_list(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    now = settings.clock().now()

    async def main() -> list[dict[str, Any]]:
        engine = await open_engine(settings.db_url)
        try:
            async with sessions(engine)() as session:
                rows = await list_orders(session, state=args.state, maintainer=args.maintainer)
        finally:
            await engine.dispose()
        return [order_record(order, alarm, now) for order, alarm in rows]

    records = asyncio.run(main())
    if args.json:
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
        return 0
    for r in records:
        late = "  OVERDUE" if r["overdue"] else ""
        escalated = f"  escalated {r['escalated_at']}" if r["escalated_at"] else ""
        print(
            f"{r['id']:<7} {r['alarm']:<8} {r['severity']:<9} {r['type']:<16} {r['asset']:<24} "
            f"{r['maintainer']:<8} {r['state']:<10} opened {r['opened_at']}  "
            f"due {r['deadline']}{late}{escalated}"
        )
    print(f"{len(records)} work orders")
    return 0


def workorders_step(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    order_id = parse_order_id(args.id)
    step = PEOPLE_STEPS[args.verb]

    async def main() -> str:
        engine = await open_engine(settings.db_url)
        try:
            async with sessions(engine)() as session, session.begin():
                row = await people_step(
                    session, order_id, step, by=args.by, at=settings.clock().now(), note=args.note
                )
                alarm = await session.get(AlarmRow, row.alarm_id)
                assert alarm is not None  # a foreign key
                what = f"{alarm.type} on {alarm.asset_kind}:{alarm.asset_id}"
                return f"{order_label(row.id)} ({what}): {row.state}"
        finally:
            await engine.dispose()

    print(asyncio.run(main()))  # a LedgerError names what is refused
    return 0


def workorders_handover(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    on = moment_option("--on", args.on) if args.on else settings.clock().now()

    async def main() -> str:
        engine = await open_engine(settings.db_url)
        try:
            async with sessions(engine)() as session, session.begin():
                row = await record_handover(
                    session, args.site, args.to, on, by=args.by, note=args.note
                )
                return row.maintainer_id
        finally:
            await engine.dispose()

    maintainer = asyncio.run(main())
    print(f"{args.site} handed over to {maintainer} from {on.isoformat()} (by {args.by})")
    return 0
