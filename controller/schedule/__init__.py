"""Carrying out the schedule: the lamps' expected levels become paced, confirmed commands
(`Dispatcher`). What each lamp should do comes from streetlight.schedule."""

from controller.schedule.dispatch import RATE_PER_S, Dispatcher, DispatchStats, Heard

__all__ = ["RATE_PER_S", "DispatchStats", "Dispatcher", "Heard"]
