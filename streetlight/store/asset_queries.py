"""The asset tree node by node: each kind's records, lists filtered by place, the tree itself.

A record is a node as the inventory file's records name things (`site`, `circuit`, not
`site_id`), so what the API lists is what an import reads: `{"id", "name", "community",
"category", "road_class", "maintainer"}` for a site. A lamp's record adds its `cabinet` and
`site`, a cabinet's its `circuits` in contactor order. `KINDS` says, per kind, its table, its
fields, what they name and how the domain builds (and checks) the node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.domain import (
    Cabinet,
    Circuit,
    Community,
    District,
    GeoPoint,
    Lamp,
    LampStatus,
    Maintainer,
    MaintainerKind,
    Phase,
    RoadClass,
    Site,
    SiteCategory,
    Subdistrict,
)
from streetlight.store.models import (
    CabinetRow,
    CircuitRow,
    CommunityRow,
    DistrictRow,
    LampRow,
    MaintainerRow,
    SiteRow,
    SubdistrictRow,
)

Record = dict[str, Any]

# from a lamp up to the district: each level's table and the column naming its parent
CHAIN = ("lamp", "circuit", "cabinet", "site", "community", "subdistrict", "district")
_UP: dict[str, Any] = {
    "lamp": LampRow.circuit_id,
    "circuit": CircuitRow.cabinet_id,
    "cabinet": CabinetRow.site_id,
    "site": SiteRow.community_id,
    "community": CommunityRow.subdistrict_id,
    "subdistrict": SubdistrictRow.district_id,
}
IN_CHUNK = 500  # ids per `IN (...)` when a list is restricted to given ids


def _lamp(r: Mapping[str, Any]) -> object:
    LampStatus(r["status"])
    return Lamp(r["id"], r["circuit"], GeoPoint(r["lat"], r["lon"]), r["rated_power_w"],
                Phase(r["phase"]), r["profile"], r["installed_on"], r["project"],
                r["device_address"])  # fmt: skip


def _cabinet(r: Mapping[str, Any]) -> object:
    return Cabinet(r["id"], r["name"], r["site"], GeoPoint(r["lat"], r["lon"]), r["profile"],
                   tuple(r["circuits"]), r["nominal_voltage_v"], r["device_address"])  # fmt: skip


@dataclass(frozen=True)
class Kind:
    """One level of the tree (or the maintainers beside it) in the store."""

    name: str
    row: type[Any]
    columns: Mapping[str, str]  # record field -> the row's attribute
    references: Mapping[str, str]  # record field -> the kind whose id it holds
    filters: tuple[str, ...]  # what a list may be filtered by besides its place in the tree
    build: Callable[[Mapping[str, Any]], object]  # the domain's node: it checks the values

    @property
    def places(self) -> tuple[str, ...]:
        """The nodes above it a list may be filtered by (the one district is no filter)."""
        if self.name not in CHAIN:
            return ()
        above = CHAIN[CHAIN.index(self.name) + 1 : CHAIN.index("district")]
        return (*above, "maintainer") if "site" in (self.name, *above) else above

    @property
    def editable(self) -> frozenset[str]:
        return frozenset(self.columns) - {"id"}


def _same(*names: str) -> dict[str, str]:
    return {name: name for name in names}


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("district", DistrictRow, _same("id", "name", "timezone"), {}, (),
             lambda r: District(r["id"], r["name"], r["timezone"])),
        Kind("subdistrict", SubdistrictRow, {**_same("id", "name"), "district": "district_id"},
             {"district": "district"}, (),
             lambda r: Subdistrict(r["id"], r["name"], r["district"])),
        Kind("community", CommunityRow, {**_same("id", "name"), "subdistrict": "subdistrict_id"},
             {"subdistrict": "subdistrict"}, (),
             lambda r: Community(r["id"], r["name"], r["subdistrict"])),
        Kind("maintainer", MaintainerRow, _same("id", "name", "kind"), {}, ("kind",),
             lambda r: Maintainer(r["id"], r["name"], MaintainerKind(r["kind"]))),
        Kind("site", SiteRow,
             {**_same("id", "name", "category", "road_class"), "community": "community_id",
              "maintainer": "maintainer_id"},
             {"community": "community", "maintainer": "maintainer"}, ("category", "road_class"),
             lambda r: Site(r["id"], r["name"], r["community"], SiteCategory(r["category"]),
                            RoadClass(r["road_class"]), r["maintainer"])),
        Kind("cabinet", CabinetRow,
             {**_same("id", "name", "lat", "lon", "profile", "nominal_voltage_v",
                      "device_address"), "site": "site_id"},
             {"site": "site"}, ("profile",), _cabinet),
        Kind("circuit", CircuitRow, {**_same("id", "number"), "cabinet": "cabinet_id"},
             {"cabinet": "cabinet"}, (), lambda r: Circuit(r["id"], r["cabinet"], r["number"])),
        Kind("lamp", LampRow,
             {**_same("id", "lat", "lon", "rated_power_w", "phase", "profile", "installed_on",
                      "project", "device_address", "status"), "circuit": "circuit_id"},
             {"circuit": "circuit"}, ("profile", "status", "project"), _lamp),
    )
}  # fmt: skip


def _record(kind: Kind, row: Any) -> Record:
    return {field: getattr(row, column) for field, column in kind.columns.items()}


def _select(kind: Kind, filters: Mapping[str, str]) -> Select[Any]:
    """The kind's rows where every filter holds, joined up the tree as far as they need (a
    lamp's always to its cabinet, for its record)."""
    if kind.name not in CHAIN:
        statement = select(kind.row)
        for name, value in filters.items():
            statement = statement.where(getattr(kind.row, kind.columns[name]) == value)
        return statement
    start = CHAIN.index(kind.name)
    top = CHAIN.index("cabinet") if kind.name == "lamp" else start
    for name in filters:
        if name == "maintainer":
            top = max(top, CHAIN.index("site"))
        elif name in CHAIN:
            top = max(top, CHAIN.index(name) - 1)
    statement = (
        select(LampRow, CabinetRow.id, CabinetRow.site_id)
        if kind.name == "lamp"
        else select(kind.row)
    )
    for level in range(start, top):
        parent = KINDS[CHAIN[level + 1]].row
        statement = statement.join(parent, parent.id == _UP[CHAIN[level]])
    for name, value in filters.items():
        if name == "maintainer":
            column = SiteRow.maintainer_id
        elif name in CHAIN:
            column = _UP[CHAIN[CHAIN.index(name) - 1]]
        else:
            column = getattr(kind.row, kind.columns[name])
        statement = statement.where(column == value)
    return statement


async def _records(session: AsyncSession, kind: Kind, statement: Select[Any]) -> list[Record]:
    if kind.name == "lamp":
        return [
            {**_record(kind, lamp), "cabinet": cabinet, "site": site}
            for lamp, cabinet, site in (await session.execute(statement)).all()
        ]
    records = [_record(kind, row) for row in (await session.scalars(statement)).all()]
    if kind.name == "cabinet" and records:
        circuits: dict[str, list[str]] = {r["id"]: [] for r in records}
        of_these = (
            select(CircuitRow.cabinet_id, CircuitRow.id)
            .where(CircuitRow.cabinet_id.in_(list(circuits)))
            .order_by(CircuitRow.cabinet_id, CircuitRow.number)
        )
        for cabinet_id, circuit_id in (await session.execute(of_these)).all():
            circuits[cabinet_id].append(circuit_id)
        for record in records:
            record["circuits"] = circuits[record["id"]]
    return records


async def get_record(session: AsyncSession, kind_name: str, ident: str) -> Record | None:
    kind = KINDS[kind_name]
    found = await _records(session, kind, _select(kind, {}).where(kind.row.id == ident))
    return found[0] if found else None


async def list_records(
    session: AsyncSession,
    kind_name: str,
    filters: Mapping[str, str],
    *,
    after: str | None,
    limit: int,
    among: Sequence[str] | None = None,
) -> list[Record]:
    """Up to `limit` records after the id `after`, in id order, where every filter (a field
    of `Kind.filters` or a node of `Kind.places`) holds; only those of `among` (sorted ids,
    e.g. the lamps in a live state) if given."""
    kind = KINDS[kind_name]
    statement = _select(kind, filters).order_by(kind.row.id)
    if after is not None:
        statement = statement.where(kind.row.id > after)
    if among is None:
        return await _records(session, kind, statement.limit(limit))
    ids = [ident for ident in among if after is None or ident > after]
    found: list[Record] = []
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        wanted = statement.where(kind.row.id.in_(chunk)).limit(limit - len(found))
        found += await _records(session, kind, wanted)
        if len(found) >= limit:
            break
    return found


# --- the tree ---------------------------------------------------------------------------


def _counts() -> dict[str, int]:
    return {status.value: 0 for status in LampStatus}


async def asset_tree(session: AsyncSession, *, counts: bool) -> Record:
    """The whole tree down to the circuits (not the lamps), with the maintainers; with
    `counts`, every node's lamps counted by status (`lamps`)."""

    async def rows(model: type[Any], *order: Any) -> list[Any]:
        return list((await session.scalars(select(model).order_by(*order, model.id))).all())

    lamps: dict[str, dict[str, int]] = {}
    if counts:
        by_circuit = select(LampRow.circuit_id, LampRow.status, func.count()).group_by(
            LampRow.circuit_id, LampRow.status
        )
        for circuit_id, status, n in (await session.execute(by_circuit)).all():
            lamps.setdefault(circuit_id, _counts())[status] = n

    def node(fields: Record, children_key: str | None, children: list[Record]) -> Record:
        if counts:
            total = _counts()
            for child in children:
                for status, n in child["lamps"].items():
                    total[status] += n
            fields["lamps"] = total
        if children_key is not None:
            fields[children_key] = children
        return fields

    def grouped(items: list[Any], key: str) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for item in items:
            out.setdefault(getattr(item, key), []).append(item)
        return out

    circuits = grouped(await rows(CircuitRow, CircuitRow.cabinet_id, CircuitRow.number),
                       "cabinet_id")  # fmt: skip
    cabinets = grouped(await rows(CabinetRow), "site_id")
    sites = grouped(await rows(SiteRow), "community_id")
    communities = grouped(await rows(CommunityRow), "subdistrict_id")
    subdistricts = grouped(await rows(SubdistrictRow), "district_id")

    def circuit(c: CircuitRow) -> Record:
        fields: Record = {"id": c.id, "number": c.number}
        if counts:
            fields["lamps"] = lamps.get(c.id, _counts())
        return fields

    def cabinet(k: CabinetRow) -> Record:
        return node({"id": k.id, "name": k.name}, "circuits",
                    [circuit(c) for c in circuits.get(k.id, [])])  # fmt: skip

    def site(s: SiteRow) -> Record:
        fields = {"id": s.id, "name": s.name, "category": s.category,
                  "road_class": s.road_class, "maintainer": s.maintainer_id}  # fmt: skip
        return node(fields, "cabinets", [cabinet(k) for k in cabinets.get(s.id, [])])

    def community(c: CommunityRow) -> Record:
        return node({"id": c.id, "name": c.name}, "sites",
                    [site(s) for s in sites.get(c.id, [])])  # fmt: skip

    def subdistrict(s: SubdistrictRow) -> Record:
        return node({"id": s.id, "name": s.name}, "communities",
                    [community(c) for c in communities.get(s.id, [])])  # fmt: skip

    districts = [
        node({"id": d.id, "name": d.name, "timezone": d.timezone}, "subdistricts",
             [subdistrict(s) for s in subdistricts.get(d.id, [])])
        for d in await rows(DistrictRow)
    ]  # fmt: skip
    maintainers = [_record(KINDS["maintainer"], m) for m in await rows(MaintainerRow)]
    return {"district": districts[0] if districts else None, "maintainers": maintainers}
