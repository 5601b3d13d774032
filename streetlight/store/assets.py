"""The asset tree in the store: saving an inventory file's content, reading it back (the
processes' inventory, or every lamp with its status for an export), importing a file whole."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import inspect, make_url, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from streetlight.domain import (
    PHASE_FIELDS,
    Cabinet,
    Circuit,
    Community,
    District,
    GeoPoint,
    Inventory,
    Lamp,
    LampStatus,
    Maintainer,
    MaintainerKind,
    Phase,
    Project,
    Road,
    RoadClass,
    Site,
    SiteCategory,
    Subdistrict,
)
from streetlight.inventory import InventoryError, InventoryFile, Problem, load_inventory
from streetlight.settings import CommonSettings
from streetlight.store.engine import StoreError, open_store, sessions
from streetlight.store.models import (
    CabinetRow,
    CircuitRow,
    CommunityRow,
    DistrictRow,
    InventoryLoadRow,
    LampRow,
    MaintainerRow,
    ProjectRow,
    ProjectSiteRow,
    RoadRow,
    SiteRow,
    SubdistrictRow,
)


@dataclass
class LoadReport:
    """What saving an inventory changed, per table."""

    added: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    absent: dict[str, int] = field(default_factory=dict)  # in the store, not in the file: kept

    def summary(self) -> str:
        def fmt(counts: dict[str, int]) -> str:
            return ", ".join(f"{n} {table}" for table, n in counts.items() if n) or "nothing"

        text = f"added {fmt(self.added)}; updated {fmt(self.updated)}"
        if any(self.absent.values()):
            text += f"; kept {fmt(self.absent)} that the file no longer lists"
        return text


def _rows(
    inventory: Inventory, status: Mapping[str, LampStatus]
) -> list[tuple[type[Any], list[dict[str, Any]]]]:
    """Rows per table, parents before children; a lamp's status only where `status` gives it."""
    d = inventory.district
    return [
        (DistrictRow, [{"id": d.id, "name": d.name, "timezone": d.timezone}]),
        (
            SubdistrictRow,
            [
                {"id": s.id, "name": s.name, "district_id": s.district_id}
                for s in inventory.subdistricts.values()
            ],
        ),
        (
            CommunityRow,
            [
                {"id": c.id, "name": c.name, "subdistrict_id": c.subdistrict_id}
                for c in inventory.communities.values()
            ],
        ),
        (
            MaintainerRow,
            [
                {"id": m.id, "name": m.name, "kind": m.kind.value}
                for m in inventory.maintainers.values()
            ],
        ),
        (
            SiteRow,
            [
                {
                    "id": s.id,
                    "name": s.name,
                    "community_id": s.community_id,
                    "category": s.category.value,
                    "road_class": s.road_class.value,
                    "maintainer_id": s.maintainer_id,
                }
                for s in inventory.sites.values()
            ],
        ),
        (
            CabinetRow,
            [
                {
                    "id": c.id,
                    "name": c.name,
                    "site_id": c.site_id,
                    "lat": c.location.lat,
                    "lon": c.location.lon,
                    "profile": c.profile,
                    "nominal_voltage_v": c.nominal_voltage_v,
                    "device_address": c.device_address,
                }
                for c in inventory.cabinets.values()
            ],
        ),
        (
            CircuitRow,
            [
                {"id": c.id, "cabinet_id": c.cabinet_id, "number": c.number}
                for c in inventory.circuits.values()
            ],
        ),
        (
            LampRow,
            [
                {
                    "id": lamp.id,
                    "circuit_id": lamp.circuit_id,
                    "lat": lamp.location.lat,
                    "lon": lamp.location.lon,
                    "rated_power_w": lamp.rated_power_w,
                    "phase": lamp.phase.value,
                    "profile": lamp.profile,
                    "installed_on": lamp.installed_on,
                    "project": lamp.project,
                    "device_address": lamp.device_address,
                    **({"status": status[lamp.id].value} if lamp.id in status else {}),
                }
                for lamp in inventory.lamps.values()
            ],
        ),
        (
            RoadRow,
            [
                {
                    "id": road.id,
                    "name": road.name,
                    "site_id": road.site_id,
                    "road_class": road.road_class.value,
                    "line": line_json(road.line),
                }
                for road in inventory.roads.values()
            ],
        ),
        (
            ProjectRow,
            [
                {"id": p.id, "name": p.name, **{name: getattr(p, name) for name in PHASE_FIELDS}}
                for p in inventory.projects.values()
            ],
        ),
        (
            ProjectSiteRow,
            [
                {"site_id": site_id, "project_id": p.id}
                for p in inventory.projects.values()
                for site_id in p.site_ids
            ],
        ),
    ]


def line_json(line: tuple[GeoPoint, ...]) -> str:
    """A road's line as the store keeps it: `[[lon, lat], ...]`."""
    return orjson.dumps([[point.lon, point.lat] for point in line]).decode()


def line_of(text: str) -> tuple[GeoPoint, ...]:
    return tuple(GeoPoint(lat=lat, lon=lon) for lon, lat in orjson.loads(text))


async def save_inventory(
    session: AsyncSession,
    inventory: Inventory,
    source: str,
    *,
    status: Mapping[str, LampStatus] | None = None,
) -> LoadReport:
    """Insert new assets and update changed ones, in one transaction the caller commits.

    A lamp takes its status from `status` where given; else a new lamp is installed and a
    known one keeps its status (a lamp retired in the store stays retired).
    """
    report = LoadReport()
    for model, rows in _rows(inventory, status or {}):
        table = model.__tablename__
        key = inspect(model).primary_key[0].key  # `id`, a project's site by `site_id`
        existing = {getattr(row, key): row for row in (await session.scalars(select(model))).all()}
        added = updated = 0
        for values in rows:
            row = existing.pop(values[key], None)
            if row is None:
                session.add(model(**values))
                added += 1
            elif any(getattr(row, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(row, name, value)
                updated += 1
        await session.flush()
        report.added[table] = added
        report.updated[table] = updated
        report.absent[table] = len(existing)
    load = InventoryLoadRow(
        loaded_at=datetime.now(UTC), source=source[:500], summary=report.summary()[:500]
    )
    session.add(load)
    return report


async def read_inventory(session: AsyncSession) -> Inventory | None:
    """The asset tree in the store, with the lamps in the field (not those planned or retired),
    or None when no inventory was ever loaded."""
    found = await _read(session, every_lamp=False)
    return None if found is None else found.inventory


async def read_assets(session: AsyncSession) -> InventoryFile | None:
    """The asset tree in the store with every lamp, whatever its status, and the status of
    each lamp not installed (what an export writes); None when the store holds none."""
    return await _read(session, every_lamp=True)


async def _read(session: AsyncSession, *, every_lamp: bool) -> InventoryFile | None:
    districts = (await session.scalars(select(DistrictRow))).all()
    if not districts:
        return None
    if len(districts) > 1:
        raise ValueError(f"the store holds {len(districts)} districts; one is supported")
    d = districts[0]

    async def all_of(model: type[Any]) -> list[Any]:
        return list((await session.scalars(select(model).order_by(model.id))).all())

    circuits = await all_of(CircuitRow)
    circuit_ids: dict[str, list[CircuitRow]] = {}
    for c in circuits:
        circuit_ids.setdefault(c.cabinet_id, []).append(c)
    lamp_rows = [r for r in await all_of(LampRow) if every_lamp or r.status == LampStatus.INSTALLED]
    inventory = Inventory(
        district=District(d.id, d.name, d.timezone),
        subdistricts={
            r.id: Subdistrict(r.id, r.name, r.district_id) for r in await all_of(SubdistrictRow)
        },
        communities={
            r.id: Community(r.id, r.name, r.subdistrict_id) for r in await all_of(CommunityRow)
        },
        maintainers={
            r.id: Maintainer(r.id, r.name, MaintainerKind(r.kind))
            for r in await all_of(MaintainerRow)
        },
        sites={
            r.id: Site(
                r.id,
                r.name,
                r.community_id,
                SiteCategory(r.category),
                RoadClass(r.road_class),
                r.maintainer_id,
            )
            for r in await all_of(SiteRow)
        },
        cabinets={
            r.id: Cabinet(
                id=r.id,
                name=r.name,
                site_id=r.site_id,
                location=GeoPoint(lat=r.lat, lon=r.lon),
                profile=r.profile,
                circuit_ids=tuple(
                    c.id for c in sorted(circuit_ids.get(r.id, []), key=lambda c: c.number)
                ),
                nominal_voltage_v=r.nominal_voltage_v,
                device_address=r.device_address,
            )
            for r in await all_of(CabinetRow)
        },
        circuits={c.id: Circuit(c.id, c.cabinet_id, c.number) for c in circuits},
        lamps={
            r.id: Lamp(
                id=r.id,
                circuit_id=r.circuit_id,
                location=GeoPoint(lat=r.lat, lon=r.lon),
                rated_power_w=r.rated_power_w,
                phase=Phase(r.phase),
                profile=r.profile,
                installed_on=r.installed_on,
                project=r.project,
                device_address=r.device_address,
            )
            for r in lamp_rows
        },
        roads=await _roads(session),
        projects=await _projects(session),
    )
    status = {r.id: LampStatus(r.status) for r in lamp_rows if r.status != LampStatus.INSTALLED}
    return InventoryFile(inventory, status)


async def _roads(session: AsyncSession) -> dict[str, Road]:
    rows = (await session.scalars(select(RoadRow).order_by(RoadRow.id))).all()
    return {
        r.id: Road(r.id, r.name, r.site_id, RoadClass(r.road_class), line_of(r.line)) for r in rows
    }


async def _projects(session: AsyncSession) -> dict[str, Project]:
    sites: dict[str, list[str]] = {}
    for row in (await session.scalars(select(ProjectSiteRow))).all():
        sites.setdefault(row.project_id, []).append(row.site_id)
    rows = (await session.scalars(select(ProjectRow).order_by(ProjectRow.id))).all()
    return {
        r.id: Project(
            r.id,
            r.name,
            tuple(sites.get(r.id, ())),
            **{name: getattr(r, name) for name in PHASE_FIELDS},
        )
        for r in rows
    }


async def import_inventory(session: AsyncSession, loaded: InventoryFile, source: str) -> LoadReport:
    """Merge an inventory file into the store, whole or not at all: the file's district must
    be the store's, and the store with it must read back as one valid inventory (what the store
    keeps that the file does not list included). Raises `InventoryError` naming what does not
    fit; the caller rolls back (nothing is saved) or commits."""
    district = loaded.inventory.district.id
    held = await session.scalar(select(DistrictRow.id).where(DistrictRow.id != district).limit(1))
    if held is not None:
        raise InventoryError(
            [f"{source}: district {district!r}: the store holds district {held!r}"],
            [Problem(source, "file", f"the store holds district {held!r}", field="district")],
        )
    try:
        report = await save_inventory(session, loaded.inventory, source, status=loaded.status)
        await session.flush()
    except IntegrityError as exc:
        raise InventoryError.of_file(
            source,
            "conflicts with what the store keeps and the file does not list "
            "(a device_address, or a circuit number of a cabinet, given to another asset)",
        ) from exc
    try:
        await read_assets(session)
    except ValueError as exc:  # the file with what the store keeps: not one inventory
        raise InventoryError.of_file(source, f"with what the store keeps: {exc}") from exc
    return report


async def inventory_from(
    path: Path | None,
    settings: CommonSettings,
    *,
    engine: AsyncEngine | None = None,
    or_else: str = "",
) -> Inventory:
    """The inventory file at `path`, or else the asset tree in the store (through `engine` if
    the caller has the store open, else opened for the read). A store without one is refused
    with how to load it (`or_else`: another way the caller offers)."""
    if path is not None:
        return load_inventory(path)
    if engine is None:
        async with open_store(settings) as opened:
            return await inventory_from(None, settings, engine=opened, or_else=or_else)
    async with sessions(engine)() as session:
        inventory = await read_inventory(session)
    if inventory is None:
        where = make_url(settings.db_url).render_as_string(hide_password=True)
        raise StoreError(
            f"the store at {where} holds no inventory: load one with "
            f"'streetlight inventory load PATH'{or_else}"
        )
    return inventory


_ROWS: dict[str, Any] = {
    "site": SiteRow,
    "cabinet": CabinetRow,
    "circuit": CircuitRow,
    "lamp": LampRow,
}


async def asset_exists(session: AsyncSession, kind: str, ident: str) -> bool:
    """Whether the tree has the site, cabinet, circuit or lamp `ident` (retired lamps too)."""
    row = _ROWS[kind]
    return await session.scalar(select(row.id).where(row.id == ident)) is not None
