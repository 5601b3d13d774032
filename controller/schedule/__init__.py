"""Carrying out the schedule: the lamps' expected levels become paced, confirmed commands
(`Dispatcher`), with each cabinet's light sensor read through its hold time (`LuxBoard`).
What each lamp should do comes from streetlight.schedule."""

from controller.schedule.dispatch import RATE_PER_S, Dispatcher, DispatchStats, Heard
from controller.schedule.lux import LuxBoard, LuxState

__all__ = ["RATE_PER_S", "DispatchStats", "Dispatcher", "Heard", "LuxBoard", "LuxState"]
