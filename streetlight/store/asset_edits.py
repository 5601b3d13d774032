"""Changing the asset tree node by node: add, change, delete, and retire a lamp.

Every change leaves a store that still reads back as a valid inventory (`read_inventory`),
so the processes that read it next are never refused: the node is built by the domain (which
checks its values), what it names must exist, an id and a device address are taken once
(addresses compared without case, across lamps and cabinets), there is one district, and a
cabinet's circuits are its contactors 1..n. A lamp is never deleted: retired, it keeps its
history. Any other node may be deleted only with nothing under it and no history (alarms,
work orders, overrides, handovers, accounts; a site's roads and project): else the refusal
says what holds it. The caller commits (and audits) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.domain import LampStatus
from streetlight.errors import StreetlightError
from streetlight.inventory import RecordCheck
from streetlight.store.asset_queries import KINDS, Kind, Record, get_record
from streetlight.store.models import (
    AlarmRow,
    CabinetRow,
    CalendarAssignmentRow,
    CircuitRow,
    CommunityRow,
    DistrictRow,
    HandoverRow,
    LampRow,
    OverrideRow,
    ProjectSiteRow,
    RoadRow,
    SiteRow,
    SubdistrictRow,
    UserRow,
    WorkOrderRow,
)

MAX_CIRCUITS = 32


class AssetError(StreetlightError):
    """A change of the asset tree refused; `field` names the record's field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidAssetError(AssetError):
    """A value the domain refuses, or a reference to a node that does not exist."""


class AssetConflictError(AssetError):
    """Refused in the store's present state: an id or address taken, something under it."""


class AssetNotFoundError(AssetError):
    """No node of that kind with that id."""


def _build(kind: Kind, record: Mapping[str, Any]) -> None:
    try:
        kind.build(record)
    except ValueError as exc:
        raise InvalidAssetError(f"{kind.name} {record.get('id')!r}: {exc}") from exc


async def _existing(session: AsyncSession, kind_name: str, ident: str) -> Record:
    record = await get_record(session, kind_name, ident)
    if record is None:
        raise AssetNotFoundError(f"no {kind_name} {ident!r}")
    return record


async def _count(session: AsyncSession, model: type[Any], *where: ColumnElement[bool]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _check(
    session: AsyncSession, kind: Kind, record: Mapping[str, Any], check: RecordCheck | None
) -> None:
    """What the record names exists, its address is its own, its profile fits."""
    for field, target in kind.references.items():
        if await session.get(KINDS[target].row, record[field]) is None:
            raise InvalidAssetError(f"no {target} {record[field]!r}", field)
    address = record.get("device_address")
    if address is not None:
        for model, other in ((LampRow, "lamp"), (CabinetRow, "cabinet")):
            # addresses are ASCII (ADDRESS_PATTERN): SQL's lower() is Python's
            holders = select(model.id).where(func.lower(model.device_address) == address.lower())
            if other == kind.name:
                holders = holders.where(model.id != record["id"])
            holder = await session.scalar(holders.limit(1))
            if holder is not None:
                raise AssetConflictError(
                    f"device_address {address!r} is already {other} {holder!r}'s",
                    "device_address",
                )
    if check is not None and "profile" in record:
        problems = check(kind.name, record["id"], record["profile"], address)
        if problems:
            field, message = problems[0]
            raise InvalidAssetError(message, field)


async def create_asset(
    session: AsyncSession,
    kind_name: str,
    record: Mapping[str, Any],
    *,
    check: RecordCheck | None = None,
) -> Record:
    """Add a node (a cabinet with its `circuits`, numbered in their order; a circuit without
    a `number` as its cabinet's next). `check` refuses a lamp's or cabinet's profile."""
    kind = KINDS[kind_name]
    record = dict(record)
    if kind.name == "circuit" and record.get("number") is None:
        taken = await _count(session, CircuitRow, CircuitRow.cabinet_id == record["cabinet"])
        record["number"] = taken + 1
    _build(kind, record)
    if await session.get(kind.row, record["id"]) is not None:
        raise AssetConflictError(f"{kind.name} {record['id']!r} exists already", "id")
    if kind.name == "district":
        held = await session.scalar(select(DistrictRow.id).limit(1))
        if held is not None:
            raise AssetConflictError(f"the store holds district {held!r}, and one only", "id")
    await _check(session, kind, record, check)
    if kind.name == "cabinet":
        for circuit_id in record["circuits"]:
            if await session.get(CircuitRow, circuit_id) is not None:
                raise AssetConflictError(f"circuit {circuit_id!r} exists already", "circuits")
    if kind.name == "circuit":
        await _next_circuit(session, record["cabinet"], record["number"])
    session.add(kind.row(**{kind.columns[f]: record[f] for f in kind.columns if f in record}))
    if kind.name == "cabinet":
        await session.flush()
        for number, circuit_id in enumerate(record["circuits"], start=1):
            session.add(CircuitRow(id=circuit_id, cabinet_id=record["id"], number=number))
    await session.flush()
    return await _existing(session, kind.name, record["id"])


async def _next_circuit(session: AsyncSession, cabinet: str, number: int) -> None:
    taken = await _count(session, CircuitRow, CircuitRow.cabinet_id == cabinet)
    if taken >= MAX_CIRCUITS:
        raise AssetConflictError(
            f"cabinet {cabinet!r} has {MAX_CIRCUITS} circuits already", "cabinet"
        )
    if number != taken + 1:
        raise AssetConflictError(
            f"cabinet {cabinet!r} has circuits 1..{taken}: a new one is number {taken + 1} "
            "(contactors are numbered without gaps)",
            "number",
        )


async def update_asset(
    session: AsyncSession,
    kind_name: str,
    ident: str,
    changes: Mapping[str, Any],
    *,
    check: RecordCheck | None = None,
) -> tuple[Record, Record]:
    """Change some fields of a node (not its id; not a cabinet's circuits: those are added
    and deleted as circuits); the record before and after."""
    kind = KINDS[kind_name]
    before = await _existing(session, kind.name, ident)
    for field in changes:
        if field not in kind.editable:
            raise InvalidAssetError(f"a {kind.name}'s {field} cannot be changed", field)
    after = {**before, **changes}
    _build(kind, after)
    # a profile is checked when it or the address changes, not on every other change
    profiled = {"profile", "device_address"} & set(changes)
    await _check(session, kind, after, check if profiled else None)
    row = await session.get(kind.row, ident)
    for field, value in changes.items():
        setattr(row, kind.columns[field], value)
    await session.flush()
    return before, await _existing(session, kind.name, ident)


async def retire_lamp(session: AsyncSession, ident: str) -> tuple[Record, Record]:
    """Take a lamp out of the field for good; it keeps its id, place and history."""
    before = await _existing(session, "lamp", ident)
    if before["status"] == LampStatus.RETIRED:
        raise AssetConflictError(f"lamp {ident!r} is retired already")
    return await update_asset(session, "lamp", ident, {"status": LampStatus.RETIRED.value})


async def delete_asset(session: AsyncSession, kind_name: str, ident: str) -> Record:
    """Delete a node with nothing under it and no history (a cabinet with its circuits);
    the record deleted."""
    kind = KINDS[kind_name]
    before = await _existing(session, kind.name, ident)
    if kind.name == "lamp":
        raise AssetConflictError(f"lamp {ident!r}: a lamp is retired, never deleted")
    held = await _holds(session, kind.name, ident, before)
    if held:
        raise AssetConflictError(f"{kind.name} {ident!r} cannot be deleted: {'; '.join(held)}")
    if kind.name == "cabinet":
        await session.execute(delete(CircuitRow).where(CircuitRow.cabinet_id == ident))
    await session.execute(delete(kind.row).where(kind.row.id == ident))
    await session.flush()
    return before


async def _holds(session: AsyncSession, kind: str, ident: str, record: Record) -> list[str]:
    """What keeps a node from being deleted, one phrase each."""
    held: list[str] = []

    async def count(what: str, model: type[Any], *where: ColumnElement[bool]) -> None:
        n = await _count(session, model, *where)
        if n:
            held.append(f"{n} {what}")

    under = {
        "district": ("subdistricts under it", SubdistrictRow, SubdistrictRow.district_id),
        "subdistrict": ("communities under it", CommunityRow, CommunityRow.subdistrict_id),
        "community": ("sites under it", SiteRow, SiteRow.community_id),
        "site": ("cabinets under it", CabinetRow, CabinetRow.site_id),
        "maintainer": ("sites it maintains", SiteRow, SiteRow.maintainer_id),
    }
    if kind in under:
        what, model, column = under[kind]
        await count(what, model, column == ident)
    assets = [ident]  # the nodes whose alarms and schedule entries count
    if kind == "cabinet":
        assets += record["circuits"]
        await count("lamps on its circuits (retired ones too)", LampRow,
                    LampRow.circuit_id.in_(record["circuits"]))  # fmt: skip
    if kind == "circuit":
        await count("lamps on it (retired ones too)", LampRow, LampRow.circuit_id == ident)
        held += await _circuit_order(session, record)
    if kind == "site":
        await count("alarms at it", AlarmRow, AlarmRow.site_id == ident)
        await count("handovers of it", HandoverRow, HandoverRow.site_id == ident)
        await count("roads on it", RoadRow, RoadRow.site_id == ident)
        await count("project listing it", ProjectSiteRow, ProjectSiteRow.site_id == ident)
    elif kind in ("cabinet", "circuit"):
        await count("alarms on it", AlarmRow, AlarmRow.asset_kind.in_(("cabinet", "circuit")),
                    AlarmRow.asset_id.in_(assets))  # fmt: skip
    if kind == "maintainer":
        await count("work orders", WorkOrderRow, WorkOrderRow.maintainer_id == ident)
        await count("handovers to it", HandoverRow, HandoverRow.maintainer_id == ident)
        await count("user accounts", UserRow, UserRow.maintainer_id == ident)
        return held
    scopes = ["circuit", "cabinet"] if kind == "cabinet" else [kind]
    await count("overrides", OverrideRow, OverrideRow.scope.in_(scopes),
                OverrideRow.group_id.in_(assets))  # fmt: skip
    refs = [f"{kind}:{ident}"] + [f"circuit:{c}" for c in assets[1:]]
    await count("calendar assignments", CalendarAssignmentRow,
                CalendarAssignmentRow.group_ref.in_(refs))  # fmt: skip
    return held


async def _circuit_order(session: AsyncSession, record: Record) -> list[str]:
    """A cabinet keeps contactors 1..n: only its last circuit may go, and never its only one."""
    taken = await _count(session, CircuitRow, CircuitRow.cabinet_id == record["cabinet"])
    if taken == 1:
        return ["it is its cabinet's only circuit (delete the cabinet instead)"]
    if record["number"] != taken:
        return [f"it is circuit {record['number']} of {taken}: only the last may go"]
    return []
