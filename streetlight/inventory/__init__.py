"""Inventory files (GeoJSON or CSV) in and out of the domain model; see docs/contract.md."""

from streetlight.inventory._build import (
    MAX_PROBLEMS,
    InventoryError,
    InventoryFile,
    Problem,
    RecordCheck,
    build_inventory,
)
from streetlight.inventory._formats import (
    CSV_COLUMNS,
    FORMATS,
    dump_csv,
    dump_geojson,
    load_inventory,
    load_inventory_file,
    parse_inventory,
)

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "MAX_PROBLEMS",
    "InventoryError",
    "InventoryFile",
    "Problem",
    "RecordCheck",
    "build_inventory",
    "dump_csv",
    "dump_geojson",
    "load_inventory",
    "load_inventory_file",
    "parse_inventory",
]
