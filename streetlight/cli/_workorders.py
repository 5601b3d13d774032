"""`streetlight workorders`: list the ledger, take a crew's step, record a site's handover.

Crews' steps are stamped with the process's clock (wall time unless a shared simulated clock is
set), as `alarms ack` is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from streetlight.cli._common import moment_option, settings_and_logging
from streetlight.domain.workorders import PEOPLE_STEPS, STATES, order_label, parse_order_id
from streetlight.settings import CommonSettings
from streetlight.store import open_store, sessions
from streetlight.store.models import AlarmRow
from streetlight.store.workorders import list_orders, order_record, people_step, record_handover


def add_parser(roles: Any) -> None:
    orders = roles.add_parser("workorders", help="the repair ledger: list, crews' steps, handovers")
    verbs = orders.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="work orders, oldest first")
    listing.add_argument("--state", choices=[state.value for state in STATES])
    listing.add_argument("--maintainer", help="a maintainer id")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(handler=workorders_list)
    for verb, what in (
        ("dispatch", "send a crew to a registered order"),
        ("repaired", "report a dispatched order repaired (the controller then verifies it)"),
        ("close", "close (销号) a verified order"),
    ):
        step = verbs.add_parser(verb, help=what)
        step.add_argument("id", help="wo-<number>")
        step.add_argument("--by", required=True, help="who (for the record)")
        step.add_argument("--note", default="")
        step.set_defaults(handler=workorders_step)
    handover = verbs.add_parser("handover", help="record a site handed over to a maintainer")
    handover.add_argument("--site", required=True, help="a site id")
    handover.add_argument("--to", required=True, help="the maintainer's id or name")
    handover.add_argument("--on", help="when, ISO 8601 with offset (default: now)")
    handover.add_argument("--by", required=True, help="who records it")
    handover.add_argument("--note", default="")
    handover.set_defaults(handler=workorders_handover)


def workorders_list(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    now = settings.clock().now()

    async def main() -> list[dict[str, Any]]:
        async with open_store(settings) as engine, sessions(engine)() as session:
            rows = await list_orders(session, state=args.state, maintainer=args.maintainer)
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
        async with open_store(settings) as engine, sessions(engine)() as session, session.begin():
            row = await people_step(
                session, order_id, step, by=args.by, at=settings.clock().now(), note=args.note
            )
            alarm = await session.get(AlarmRow, row.alarm_id)
            assert alarm is not None  # a foreign key
            what = f"{alarm.type} on {alarm.asset_kind}:{alarm.asset_id}"
            return f"{order_label(row.id)} ({what}): {row.state}"

    print(asyncio.run(main()))  # a LedgerError names what is refused
    return 0


def workorders_handover(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    on = moment_option("--on", args.on) if args.on else settings.clock().now()

    async def main() -> str:
        async with open_store(settings) as engine, sessions(engine)() as session, session.begin():
            row = await record_handover(session, args.site, args.to, on, by=args.by, note=args.note)
            return row.maintainer_id

    maintainer = asyncio.run(main())
    print(f"{args.site} handed over to {maintainer} from {on.isoformat()} (by {args.by})")
    return 0
