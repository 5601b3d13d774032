"""The asset tree node by node: list (filtered, in pages), read, add, change, delete; retire a
lamp. The tree whole, import and export are `api.routes.inventory`'s, under the same router.

Anyone may read; operators and admins change the assets (laying out the district is the
lighting office's business; maintainers and viewers read). Every change is checked as the
domain checks it (streetlight.store.asset_edits), audited in the same transaction, and
followed by the live state (`app.state.reload_assets`). A lamp is never deleted: DELETE
retires it, as `POST .../retire` does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.asset_crud import Edit, View, change, create, delete, list_of, one, retire
from api.asset_schemas import (
    CabinetChange,
    CabinetFilters,
    CabinetIn,
    CabinetOut,
    CircuitFilters,
    CircuitIn,
    CircuitOut,
    CommunityChange,
    CommunityFilters,
    CommunityIn,
    CommunityOut,
    DistrictChange,
    DistrictIn,
    DistrictOut,
    LampChange,
    LampFilters,
    LampIn,
    LampOut,
    MaintainerChange,
    MaintainerFilters,
    MaintainerIn,
    MaintainerOut,
    SiteChange,
    SiteFilters,
    SiteIn,
    SiteOut,
    SubdistrictChange,
    SubdistrictIn,
    SubdistrictOut,
)
from api.deps import Page, Pages
from api.routes.inventory import router as inventory_router
from streetlight.domain import ID_PATTERN

router = APIRouter(tags=["assets"])
router.include_router(inventory_router)

Ident = Annotated[str, Path(pattern=ID_PATTERN.pattern, max_length=64)]


_DELETE = "Delete, if nothing hangs under it and it has no history (else 409 says what)"


# --- the district --------------------------------------------------------------------------


@router.get("/districts", summary="The district (a store holds one)")
async def districts(view: View, paging: Pages) -> Page[DistrictOut]:
    return await list_of(view, paging, "district", DistrictOut)


@router.get("/districts/{district_id}", summary="The district")
async def district(district_id: Ident, view: View) -> DistrictOut:
    return await one(view, "district", district_id, DistrictOut)


@router.post("/districts", status_code=201, summary="Add the district (into an empty store)")
async def add_district(body: DistrictIn, edit: Edit) -> DistrictOut:
    return await create(edit, "district", body, DistrictOut)


@router.patch("/districts/{district_id}", summary="Change the district's name or time zone")
async def change_district(district_id: Ident, body: DistrictChange, edit: Edit) -> DistrictOut:
    return await change(edit, "district", district_id, body, DistrictOut)


@router.delete("/districts/{district_id}", summary=_DELETE)
async def delete_district(district_id: Ident, edit: Edit) -> DistrictOut:
    return await delete(edit, "district", district_id, DistrictOut)


# --- subdistricts --------------------------------------------------------------------------


@router.get("/subdistricts", summary="Subdistricts (街道)")
async def subdistricts(view: View, paging: Pages) -> Page[SubdistrictOut]:
    return await list_of(view, paging, "subdistrict", SubdistrictOut)


@router.get("/subdistricts/{subdistrict_id}", summary="A subdistrict")
async def subdistrict(subdistrict_id: Ident, view: View) -> SubdistrictOut:
    return await one(view, "subdistrict", subdistrict_id, SubdistrictOut)


@router.post("/subdistricts", status_code=201, summary="Add a subdistrict")
async def add_subdistrict(body: SubdistrictIn, edit: Edit) -> SubdistrictOut:
    return await create(edit, "subdistrict", body, SubdistrictOut)


@router.patch("/subdistricts/{subdistrict_id}", summary="Rename a subdistrict")
async def change_subdistrict(
    subdistrict_id: Ident, body: SubdistrictChange, edit: Edit
) -> SubdistrictOut:
    return await change(edit, "subdistrict", subdistrict_id, body, SubdistrictOut)


@router.delete("/subdistricts/{subdistrict_id}", summary=_DELETE)
async def delete_subdistrict(subdistrict_id: Ident, edit: Edit) -> SubdistrictOut:
    return await delete(edit, "subdistrict", subdistrict_id, SubdistrictOut)


# --- communities ---------------------------------------------------------------------------


@router.get("/communities", summary="Communities (社区)")
async def communities(
    view: View, paging: Pages, filters: Annotated[CommunityFilters, Query()]
) -> Page[CommunityOut]:
    return await list_of(view, paging, "community", CommunityOut, filters)


@router.get("/communities/{community_id}", summary="A community")
async def community(community_id: Ident, view: View) -> CommunityOut:
    return await one(view, "community", community_id, CommunityOut)


@router.post("/communities", status_code=201, summary="Add a community")
async def add_community(body: CommunityIn, edit: Edit) -> CommunityOut:
    return await create(edit, "community", body, CommunityOut)


@router.patch("/communities/{community_id}", summary="Rename a community or move it")
async def change_community(community_id: Ident, body: CommunityChange, edit: Edit) -> CommunityOut:
    return await change(edit, "community", community_id, body, CommunityOut)


@router.delete("/communities/{community_id}", summary=_DELETE)
async def delete_community(community_id: Ident, edit: Edit) -> CommunityOut:
    return await delete(edit, "community", community_id, CommunityOut)


# --- maintainers ---------------------------------------------------------------------------


@router.get("/maintainers", summary="Who repairs sites: property companies, city management")
async def maintainers(
    view: View, paging: Pages, filters: Annotated[MaintainerFilters, Query()]
) -> Page[MaintainerOut]:
    return await list_of(view, paging, "maintainer", MaintainerOut, filters)


@router.get("/maintainers/{maintainer_id}", summary="A maintainer")
async def maintainer(maintainer_id: Ident, view: View) -> MaintainerOut:
    return await one(view, "maintainer", maintainer_id, MaintainerOut)


@router.post("/maintainers", status_code=201, summary="Add a maintainer")
async def add_maintainer(body: MaintainerIn, edit: Edit) -> MaintainerOut:
    return await create(edit, "maintainer", body, MaintainerOut)


@router.patch("/maintainers/{maintainer_id}", summary="Change a maintainer's name or kind")
async def change_maintainer(
    maintainer_id: Ident, body: MaintainerChange, edit: Edit
) -> MaintainerOut:
    return await change(edit, "maintainer", maintainer_id, body, MaintainerOut)


@router.delete("/maintainers/{maintainer_id}", summary=_DELETE)
async def delete_maintainer(maintainer_id: Ident, edit: Edit) -> MaintainerOut:
    return await delete(edit, "maintainer", maintainer_id, MaintainerOut)


# --- sites ---------------------------------------------------------------------------------


@router.get("/sites", summary="Sites: compounds and back streets")
async def sites(
    view: View, paging: Pages, filters: Annotated[SiteFilters, Query()]
) -> Page[SiteOut]:
    return await list_of(view, paging, "site", SiteOut, filters)


@router.get("/sites/{site_id}", summary="A site")
async def site(site_id: Ident, view: View) -> SiteOut:
    return await one(view, "site", site_id, SiteOut)


@router.post("/sites", status_code=201, summary="Add a site")
async def add_site(body: SiteIn, edit: Edit) -> SiteOut:
    return await create(edit, "site", body, SiteOut)


@router.patch("/sites/{site_id}", summary="Change a site: name, place, class, maintainer")
async def change_site(site_id: Ident, body: SiteChange, edit: Edit) -> SiteOut:
    return await change(edit, "site", site_id, body, SiteOut)


@router.delete("/sites/{site_id}", summary=_DELETE)
async def delete_site(site_id: Ident, edit: Edit) -> SiteOut:
    return await delete(edit, "site", site_id, SiteOut)


# --- cabinets ------------------------------------------------------------------------------


@router.get("/cabinets", summary="Control cabinets (控制柜), with their circuits")
async def cabinets(
    view: View, paging: Pages, filters: Annotated[CabinetFilters, Query()]
) -> Page[CabinetOut]:
    return await list_of(view, paging, "cabinet", CabinetOut, filters)


@router.get("/cabinets/{cabinet_id}", summary="A cabinet")
async def cabinet(cabinet_id: Ident, view: View) -> CabinetOut:
    return await one(view, "cabinet", cabinet_id, CabinetOut)


@router.post("/cabinets", status_code=201, summary="Add a cabinet with its circuits")
async def add_cabinet(body: CabinetIn, edit: Edit) -> CabinetOut:
    return await create(edit, "cabinet", body, CabinetOut)


@router.patch("/cabinets/{cabinet_id}", summary="Change a cabinet (its circuits: /circuits)")
async def change_cabinet(cabinet_id: Ident, body: CabinetChange, edit: Edit) -> CabinetOut:
    return await change(edit, "cabinet", cabinet_id, body, CabinetOut)


@router.delete("/cabinets/{cabinet_id}", summary=_DELETE + "; its circuits go with it")
async def delete_cabinet(cabinet_id: Ident, edit: Edit) -> CabinetOut:
    return await delete(edit, "cabinet", cabinet_id, CabinetOut)


# --- circuits ------------------------------------------------------------------------------


@router.get("/circuits", summary="Circuits (回路) of the cabinets")
async def circuits(
    view: View, paging: Pages, filters: Annotated[CircuitFilters, Query()]
) -> Page[CircuitOut]:
    return await list_of(view, paging, "circuit", CircuitOut, filters)


@router.get("/circuits/{circuit_id}", summary="A circuit")
async def circuit(circuit_id: Ident, view: View) -> CircuitOut:
    return await one(view, "circuit", circuit_id, CircuitOut)


@router.post("/circuits", status_code=201, summary="Add a circuit: its cabinet's next contactor")
async def add_circuit(body: CircuitIn, edit: Edit) -> CircuitOut:
    return await create(edit, "circuit", body, CircuitOut)


@router.delete("/circuits/{circuit_id}", summary=_DELETE + "; only a cabinet's last circuit")
async def delete_circuit(circuit_id: Ident, edit: Edit) -> CircuitOut:
    return await delete(edit, "circuit", circuit_id, CircuitOut)


# --- lamps ---------------------------------------------------------------------------------


@router.get("/lamps", summary="Lamps, by place, profile, status or live state")
async def lamps(view: View, paging: Pages, filters: Annotated[LampFilters, Query()]
                ) -> Page[LampOut]:  # fmt: skip
    return await list_of(view, paging, "lamp", LampOut, filters)


@router.get("/lamps/{lamp_id}", summary="A lamp, with its live state")
async def lamp(lamp_id: Ident, view: View) -> LampOut:
    return await one(view, "lamp", lamp_id, LampOut)


@router.post("/lamps", status_code=201, summary="Add a lamp (planned or installed)")
async def add_lamp(body: LampIn, edit: Edit) -> LampOut:
    return await create(edit, "lamp", body, LampOut)


@router.patch("/lamps/{lamp_id}", summary="Change a lamp: place, power, profile, status")
async def change_lamp(lamp_id: Ident, body: LampChange, edit: Edit) -> LampOut:
    return await change(edit, "lamp", lamp_id, body, LampOut)


@router.post("/lamps/{lamp_id}/retire", summary="Retire a lamp: kept, with its history")
async def retire_lamp_(lamp_id: Ident, edit: Edit) -> LampOut:
    return await retire(edit, lamp_id)


@router.delete("/lamps/{lamp_id}", summary="Retire a lamp (a lamp is never deleted)")
async def delete_lamp(lamp_id: Ident, edit: Edit) -> LampOut:
    return await retire(edit, lamp_id)
