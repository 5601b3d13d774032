"""KPIs: what the district is judged by, written to InfluxDB by the controller, which alone
knows what each lamp should be doing (docs/contract.md, "KPI measurements").

Every 300 s of clock time `kpi` per site, community, subdistrict and district, with the open
alarms and work orders as `open_alarm` and `work_order` points; once per night (noon to noon)
`kpi_night` per node and `switching` per site. The tree and its nights (tree), each lamp's
judgement and energy (lamps), switch times (switching), a night's sums (night), state points
(states), the bounded backlog (outbox) and the writer that runs them (writer).
"""

from controller.kpi.outbox import Outbox, OutboxStats
from controller.kpi.tree import MARK_S, KpiTree
from controller.kpi.writer import KpiConfig, KpiStats, KpiWriter

__all__ = ["MARK_S", "KpiConfig", "KpiStats", "KpiTree", "KpiWriter", "Outbox", "OutboxStats"]
