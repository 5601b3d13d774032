"""Units a vendor may report a lamp's readings in, and their conversion to the contract's.

A profile names the vendor's unit of a field (`unit: kWh`); the gateway converts the value to
the field's canonical unit (Wh), and the simulator converts back. A unit the table does not
know for that field is refused when the profile is loaded, naming the ones it does know.
"""

from __future__ import annotations

from dataclasses import dataclass

# canonical unit of each lamp field an MQTT report may carry
CANONICAL_UNITS = {
    "voltage_v": "V",
    "current_a": "A",
    "power_w": "W",
    "power_factor": "1",
    "energy_wh": "Wh",
    "dim_pct": "%",
    "driver_temp_c": "Cel",
    "burning_hours": "h",
}


@dataclass(frozen=True, slots=True)
class Conversion:
    """canonical = (vendor + offset) * factor."""

    factor: float = 1.0
    offset: float = 0.0

    @property
    def identity(self) -> bool:
        return self.factor == 1.0 and self.offset == 0.0

    def to_canonical(self, value: float) -> float:
        if self.identity:
            return value
        # 12 significant digits: 18.334 kWh is 18334 Wh, not 18334.000000000004
        return float(f"{(value + self.offset) * self.factor:.12g}")

    def to_vendor(self, value: float) -> float:
        if self.identity:
            return value
        return float(f"{value / self.factor - self.offset:.12g}")


_SAME = Conversion()
_CELSIUS = {"Cel": _SAME, "degC": _SAME, "°C": _SAME}
_FAHRENHEIT = Conversion(factor=5 / 9, offset=-32.0)

# vendor units by canonical unit; names as SenML (RFC 8428, 8798) writes them where it has one
VENDOR_UNITS: dict[str, dict[str, Conversion]] = {
    "V": {"V": _SAME, "mV": Conversion(0.001), "kV": Conversion(1000.0)},
    "A": {"A": _SAME, "mA": Conversion(0.001)},
    "W": {"W": _SAME, "mW": Conversion(0.001), "kW": Conversion(1000.0)},
    "Wh": {
        "Wh": _SAME,
        "kWh": Conversion(1000.0),
        "MWh": Conversion(1_000_000.0),
        "J": Conversion(1 / 3600),
        "kJ": Conversion(1 / 3.6),
    },
    "1": {"1": _SAME, "/": _SAME, "%": Conversion(0.01)},
    "%": {"%": _SAME, "1": Conversion(100.0), "/": Conversion(100.0)},
    "Cel": {**_CELSIUS, "degF": _FAHRENHEIT, "°F": _FAHRENHEIT, "K": Conversion(offset=-273.15)},
    "h": {"h": _SAME, "min": Conversion(1 / 60), "s": Conversion(1 / 3600)},
}


def conversion(field: str, unit: str | None) -> Conversion:
    """How a value of `field` in `unit` becomes the canonical unit; ValueError if it cannot."""
    canonical = CANONICAL_UNITS.get(field)
    if unit is None:
        return _SAME
    if canonical is None:
        raise ValueError(f"{field} takes no unit")
    known = VENDOR_UNITS[canonical]
    found = known.get(unit)
    if found is None:
        raise ValueError(
            f"unit {unit!r} cannot become {field}'s {canonical}; known: {', '.join(known)}"
        )
    return found
