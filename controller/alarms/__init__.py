"""Failure detection: readings in, one alarm per root cause out, to the store, bus and InfluxDB.

`Detector` holds every reading against what the lamp was told and its thresholds and gives
the `AlarmBook` evidence; the book debounces it and links consequences under their root
cause; the `AlarmOutlet` writes each change to the store, then the bus, then InfluxDB, then
the listeners (the ledger). The book's open alarms and debounce state are saved for a restart.
"""

from controller.alarms.book import Alarm, AlarmBook, Key, Watch
from controller.alarms.detect import Detector, Expectations
from controller.alarms.outlet import AlarmOutlet
from controller.alarms.saved import read_open_alarms, read_watches, save_watches
from controller.alarms.thresholds import (
    ThresholdBook,
    ThresholdError,
    Thresholds,
    load_thresholds,
)

__all__ = [
    "Alarm",
    "AlarmBook",
    "AlarmOutlet",
    "Detector",
    "Expectations",
    "Key",
    "ThresholdBook",
    "ThresholdError",
    "Thresholds",
    "Watch",
    "load_thresholds",
    "read_open_alarms",
    "read_watches",
    "save_watches",
]
