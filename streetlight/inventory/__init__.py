"""Inventory files (GeoJSON or CSV) in and out of the domain model; see docs/contract.md."""

from streetlight.inventory._build import InventoryError, build_inventory
from streetlight.inventory._formats import CSV_COLUMNS, dump_csv, dump_geojson, load_inventory

__all__ = [
    "CSV_COLUMNS",
    "InventoryError",
    "build_inventory",
    "dump_csv",
    "dump_geojson",
    "load_inventory",
]
