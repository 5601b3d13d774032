"""The detection scorer (bench/scoring.py) on a hand-made truth and alarms: what counts as found,
masked, a consequence, and from when latency is counted."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bench.detection_score import lit_shows, site_changes
from bench.scoring import Fault, crossing, read_alarms, read_truth, score
from streetlight.domain import AlarmType
from tests.helpers import sample_district, subset
from tests.simulation import NIGHT

SITE, CABINET = "PP-S04", "PP-S04-K1"
UNDER, ELSEWHERE = "PP-S04-L001", "PP-S04-L002"  # both fed by cabinet PP-S04-K1
INTERVAL = 300.0


def _at(minutes: float) -> str:
    return datetime.fromtimestamp(NIGHT.timestamp() + 60 * minutes, NIGHT.tzinfo).isoformat()


def _fault(target: str, kind: AlarmType, start: float, end: float) -> list[dict[str, Any]]:
    return [
        {"at": _at(start), "target": target, "kind": kind.value, "event": "start"},
        {"at": _at(end), "target": target, "kind": kind.value, "event": "end"},
    ]


def _alarm(number: int, kind: AlarmType, asset: str, minutes: float) -> dict[str, Any]:
    return {"id": f"al-{number}", "type": kind.value, "asset": asset, "raised_at": _at(minutes),
            "parent": None}  # fmt: skip


def test_a_lamp_fault_during_an_outage_counts_from_the_outage_end_or_is_masked() -> None:
    truth = sorted(
        [
            *_fault(f"cabinet:{CABINET}", AlarmType.SUPPLY_LOSS, 0, 60),
            *_fault(f"lamp:{UNDER}", AlarmType.HIGH_POWER, 10, 300),  # found after the outage
            *_fault(f"lamp:{ELSEWHERE}", AlarmType.LOW_POWER, 20, 40),  # over with the outage
        ],
        key=lambda record: record["at"],
    )
    alarms = [
        _alarm(1, AlarmType.SUPPLY_LOSS, f"cabinet:{CABINET}", 2),
        _alarm(2, AlarmType.HIGH_POWER, f"lamp:{UNDER}", 70),
    ]
    end = NIGHT.timestamp() + 24 * 3600
    result = score(read_truth(truth, end), read_alarms(alarms), subset((SITE,)),
                   interval_s=INTERVAL)  # fmt: skip
    by_kind = {fault.kind: fault for fault in result.faults}
    outage, high, low = (by_kind[k] for k in (AlarmType.SUPPLY_LOSS, AlarmType.HIGH_POWER,
                                              AlarmType.LOW_POWER))  # fmt: skip
    assert outage.latency_s == 120
    assert high.found_by == "al-2"
    assert high.visible_at == outage.end
    assert high.latency_s == 600  # from the supply's return, not from the fault's start
    assert low.found_by is None
    assert low.masked
    assert result.by_type["low_power"]["recall"] is None  # nothing it could have seen
    assert result.by_type["high_power"]["latency_intervals_p95"] == 2.0


def test_when_a_heating_driver_passed_its_limit() -> None:
    rising = [(0.0, 80.0), (300.0, 84.0), (600.0, 88.0)]
    assert crossing(rising, 85.0, start=-10.0) == 375.0  # between the reports, linearly
    assert crossing(rising, 79.0, start=-10.0) == -10.0  # over it from the first report
    assert crossing(rising, 90.0, start=-10.0) is None


def test_found_during_an_outage_counts_from_the_start_and_a_fault_never_shown_is_masked() -> None:
    third, fourth = "PP-S04-L003", "PP-S04-L004"
    truth = sorted(
        [
            *_fault(f"cabinet:{CABINET}", AlarmType.SUPPLY_LOSS, 0, 60),
            *_fault(f"lamp:{third}", AlarmType.LAMP_OFFLINE, 10, 300),  # its node died too
            *_fault(f"lamp:{fourth}", AlarmType.OVER_TEMPERATURE, 120, 180),  # never got hot
        ],
        key=lambda record: record["at"],
    )
    alarms = [_alarm(1, AlarmType.LAMP_OFFLINE, f"lamp:{third}", 15)]
    faults = read_truth(truth, NIGHT.timestamp() + 24 * 3600)
    hot = next(f for f in faults if f.kind is AlarmType.OVER_TEMPERATURE)
    hot.never_visible = True  # as heat_shows says of a driver that never passed its limit
    result = score(faults, read_alarms(alarms), subset((SITE,)), interval_s=INTERVAL)
    offline = next(f for f in result.faults if f.kind is AlarmType.LAMP_OFFLINE)
    assert offline.latency_s == 300  # raised during the outage: from its own start
    assert hot.masked
    assert result.by_type["over_temperature"]["recall"] is None


def test_a_fault_that_shows_only_lit_is_seen_from_the_switch_on_if_it_began_before() -> None:
    inventory = sample_district()
    changes = site_changes(inventory)
    shanghai = ZoneInfo("Asia/Shanghai")
    on = changes("BSH-S03", date(2026, 12, 20))[0][0]  # the evening's switch-on
    before = datetime(2026, 12, 20, 17, 20, tzinfo=shanghai).timestamp()
    lit = datetime(2026, 12, 20, 20, 0, tzinfo=shanghai).timestamp()
    faults = [
        Fault(AlarmType.LOW_POWER, "lamp:BSH-S03-L028", before, before + 3600),
        Fault(AlarmType.LOW_POWER, "lamp:BSH-S03-L029", lit, lit + 3600),
        Fault(AlarmType.LAMP_OFFLINE, "lamp:BSH-S03-L030", before, before + 3600),  # seen by day
    ]
    lit_shows(faults, inventory, changes)
    assert before < on.timestamp() < lit
    assert [f.visible_at for f in faults] == [on.timestamp(), 0.0, 0.0]


def test_a_cycling_lamp_is_seen_from_its_second_cut_out_once_lit() -> None:
    inventory = sample_district()
    changes = site_changes(inventory)
    shanghai = ZoneInfo("Asia/Shanghai")
    on = changes("BSH-S03", date(2026, 12, 20))[0][0].timestamp()
    before = datetime(2026, 12, 20, 17, 20, tzinfo=shanghai).timestamp()
    lit = datetime(2026, 12, 20, 20, 0, tzinfo=shanghai).timestamp()
    faults = [
        Fault(AlarmType.CYCLING, "lamp:BSH-S03-L028", before, before + 3600),
        Fault(AlarmType.CYCLING, "lamp:BSH-S03-L029", lit, lit + 3600),
    ]
    lit_shows(faults, inventory, changes)
    # lit from its start: on for 150 s, off for 90 s, and off again at 390 s
    assert faults[1].visible_at == lit + 390
    # begun 333 s before the switch-on (sun times to the second, within 6 s of SPA), its cycle
    # runs from its start: it cuts out at 150 s, 390 s and 630 s; the switch-on falls between
    # the first two, so 390 s is its first cut-out once lit, 630 s its second
    assert 150 < on - before < 390
    assert faults[0].visible_at == before + 630
