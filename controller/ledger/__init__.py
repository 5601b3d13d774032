"""The work-order ledger inside the controller: root alarms open orders, telemetry verifies
repairs, overdue orders escalate, and crews are told (rules: pure; keeper: runs them)."""

from controller.ledger.keeper import LedgerKeeper
from controller.ledger.rules import (
    LedgerConfig,
    LedgerConfigError,
    NoticeHold,
    RepairCheck,
    Sickness,
    WorkingCalendar,
    load_ledger_config,
    repair_deadline,
    report_sources,
)

__all__ = [
    "LedgerConfig",
    "LedgerConfigError",
    "LedgerKeeper",
    "NoticeHold",
    "RepairCheck",
    "Sickness",
    "WorkingCalendar",
    "load_ledger_config",
    "repair_deadline",
    "report_sources",
]
