"""Tables of the relational store (SQLAlchemy 2). Migrations in `migrations/` create them.

The asset tree mirrors `streetlight.domain`; rows are converted at the store's edge, so the
rest of the code works with frozen domain objects, not ORM instances.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(64)
NAME = String(200)

# names for constraints, so migrations on SQLite and PostgreSQL agree
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class DistrictRow(Base):
    __tablename__ = "districts"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    timezone: Mapped[str] = mapped_column(String(64))


class SubdistrictRow(Base):
    __tablename__ = "subdistricts"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    district_id: Mapped[str] = mapped_column(ForeignKey("districts.id"), index=True)


class CommunityRow(Base):
    __tablename__ = "communities"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    subdistrict_id: Mapped[str] = mapped_column(ForeignKey("subdistricts.id"), index=True)


class MaintainerRow(Base):
    __tablename__ = "maintainers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(String(32))


class SiteRow(Base):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    road_class: Mapped[str] = mapped_column(String(32))
    maintainer_id: Mapped[str] = mapped_column(ForeignKey("maintainers.id"), index=True)


class CabinetRow(Base):
    __tablename__ = "cabinets"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    profile: Mapped[str] = mapped_column(ID)
    nominal_voltage_v: Mapped[float] = mapped_column(Float)
    device_address: Mapped[str | None] = mapped_column(ID, index=True, unique=True)


class CircuitRow(Base):
    __tablename__ = "circuits"
    __table_args__ = (UniqueConstraint("cabinet_id", "number"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    cabinet_id: Mapped[str] = mapped_column(ForeignKey("cabinets.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)


class LampRow(Base):
    __tablename__ = "lamps"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    circuit_id: Mapped[str] = mapped_column(ForeignKey("circuits.id"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    rated_power_w: Mapped[float] = mapped_column(Float)
    phase: Mapped[str] = mapped_column(String(1))
    profile: Mapped[str] = mapped_column(ID)
    installed_on: Mapped[date | None] = mapped_column(Date)
    project: Mapped[str | None] = mapped_column(NAME)
    # streetlight.domain.LampStatus: the processes' inventory holds installed lamps only
    status: Mapped[str] = mapped_column(String(16), default="installed", server_default="installed")
    device_address: Mapped[str | None] = mapped_column(ID, index=True, unique=True)


class RoadRow(Base):
    """A road's centre line the survey recorded; `line` is JSON, `[[lon, lat], ...]`."""

    __tablename__ = "roads"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    road_class: Mapped[str] = mapped_column(String(32))
    line: Mapped[str] = mapped_column(Text)


class ProjectRow(Base):
    """A renovation project (streetlight.domain.Project) and the dates of its phases."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    survey_start: Mapped[date | None] = mapped_column(Date)
    survey_end: Mapped[date | None] = mapped_column(Date)
    implementation_start: Mapped[date | None] = mapped_column(Date)
    implementation_end: Mapped[date | None] = mapped_column(Date)
    acceptance_start: Mapped[date | None] = mapped_column(Date)
    acceptance_end: Mapped[date | None] = mapped_column(Date)
    handover_start: Mapped[date | None] = mapped_column(Date)
    handover_end: Mapped[date | None] = mapped_column(Date)


class ProjectSiteRow(Base):
    """A site's project: the site is the key, so a site is in one project."""

    __tablename__ = "project_sites"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)


class InventoryLoadRow(Base):
    """When an inventory file was loaded, from where, and what it changed."""

    __tablename__ = "inventory_loads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(String(500))


# --- the schedule (streetlight/store/schedules.py converts these) -------------------------------


class ProgramRow(Base):
    """A lighting program; `document` is its JSON form (docs/contract.md, "Schedule file")."""

    __tablename__ = "programs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    document: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    saved_by: Mapped[str] = mapped_column(NAME)


class CalendarRow(Base):
    __tablename__ = "calendars"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    saved_by: Mapped[str] = mapped_column(NAME)


class CalendarAssignmentRow(Base):
    """Which calendar a group follows; `group_ref` is `scope:id`."""

    __tablename__ = "calendar_assignments"

    group_ref: Mapped[str] = mapped_column(String(80), primary_key=True)
    calendar_id: Mapped[str] = mapped_column(ForeignKey("calendars.id"), index=True)


class SpecialDayRow(Base):
    __tablename__ = "special_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(ID, primary_key=True)


class NamedGroupMemberRow(Base):
    """A lamp's membership of a named group (a group that is not a node of the tree)."""

    __tablename__ = "named_group_members"

    group_id: Mapped[str] = mapped_column(ID, primary_key=True)
    lamp_id: Mapped[str] = mapped_column(ForeignKey("lamps.id"), primary_key=True)


class OverrideRow(Base):
    """An operator's override, kept for the record after it expires or is cancelled."""

    __tablename__ = "overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(16))
    group_id: Mapped[str] = mapped_column(ID)
    level: Mapped[int | None] = mapped_column(Integer)
    starts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(500))
    set_by: Mapped[str] = mapped_column(NAME)
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[str | None] = mapped_column(NAME)


# --- alarms and the repair ledger (streetlight/store/alarms.py, workorders.py) -----------------


class AlarmRow(Base):
    """One alarm: a fault of one type on one asset, from raised to closed."""

    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    asset_kind: Mapped[str] = mapped_column(String(16))
    asset_id: Mapped[str] = mapped_column(ID, index=True)
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    site_id: Mapped[str] = mapped_column(ID, index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id"), index=True)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    detail: Mapped[str] = mapped_column(String(500))


class AlarmTransitionRow(Base):
    """Every change of an alarm: its new state (or suppressed/surfaced), when, and by whom."""

    __tablename__ = "alarm_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    change: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    by: Mapped[str] = mapped_column(NAME)
    detail: Mapped[str | None] = mapped_column(String(500))


class AlarmWatchRow(Base):
    """Detection's debounce state, saved so a restarted controller carries on where it was."""

    __tablename__ = "alarm_watch"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WorkOrderRow(Base):
    """A repair job (台账 entry) opened by an alarm, for the site's maintainer."""

    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # one order per alarm: a restarted controller finds it instead of opening another
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True, unique=True)
    maintainer_id: Mapped[str] = mapped_column(ID, index=True)
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    repaired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkOrderTransitionRow(Base):
    __tablename__ = "work_order_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    change: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    by: Mapped[str] = mapped_column(NAME)
    note: Mapped[str | None] = mapped_column(String(500))


class HandoverRow(Base):
    """A site handed over to another maintainer (移交接管): from `handed_over_at` on, its
    alarms open work orders for that maintainer instead of the asset tree's (latest wins)."""

    __tablename__ = "handovers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    maintainer_id: Mapped[str] = mapped_column(ForeignKey("maintainers.id"))
    handed_over_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    by: Mapped[str] = mapped_column(NAME)
    note: Mapped[str | None] = mapped_column(String(500))


# --- people and machines who use the API, and what they did (streetlight/store/users.py) --------


class UserRow(Base):
    """A person or machine account of the API: its role, and for a maintainer whose sites."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    maintainer_id: Mapped[str | None] = mapped_column(ForeignKey("maintainers.id"))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None: keys only
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(NAME)
    # tokens issued before this moment are refused (a password change, "log out everywhere")
    tokens_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKeyRow(Base):
    """A machine's key: its SHA-256 is stored, never the key; `prefix` finds it."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(NAME)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RevokedTokenRow(Base):
    """A token revoked before its expiry (logged out); kept until it would have expired."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditRow(Base):
    """Every write through the API: who, what, when, and the record before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200))
    before: Mapped[str | None] = mapped_column(Text)  # JSON
    after: Mapped[str | None] = mapped_column(Text)  # JSON


# --- handover acceptance runs (streetlight/store/acceptance.py) ----------------------------------


class AcceptanceRunRow(Base):
    """One acceptance run of a site over a window of nights: the criteria it was judged by, the
    inputs it was computed from (JSON, with their sha256) and its result, so that a re-run
    evaluates the same data; once accepted, who accepted it and the handover it recorded."""

    __tablename__ = "acceptance_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    first_night: Mapped[date] = mapped_column(Date)
    last_night: Mapped[date] = mapped_column(Date)
    verdict: Mapped[str] = mapped_column(String(8))
    criteria: Mapped[str] = mapped_column(Text)  # JSON
    inputs: Mapped[str] = mapped_column(Text)  # JSON
    inputs_sha256: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(Text)  # JSON (streetlight.acceptance.to_json)
    run_by: Mapped[str] = mapped_column(NAME)
    run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    accepted_by: Mapped[str | None] = mapped_column(NAME)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handover_id: Mapped[int | None] = mapped_column(ForeignKey("handovers.id"))
