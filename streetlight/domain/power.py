"""What a lamp draws: the LED driver's power curve, shared by the simulator and detection.

An LED driver does not draw power in proportion to its dim level: at 0 % it still drives the
LEDs at its minimum output, and between minimum and full output the curve bends (drivers are
less efficient at low load). The node's own electronics draw a little whenever they have
supply, relay open or closed. Real drivers vary by a few percent from this curve; the
simulator gives each lamp its own tolerance, and detection allows for it.
"""

from __future__ import annotations

STANDBY_W = 0.5  # the controller node's own draw, measured with the lamp
MIN_OUTPUT = 0.08  # a driver dimmed to 0 % still delivers 8 % of rated power
CURVE_EXPONENT = 1.25


def lamp_power_w(rated_w: float, on: bool, level_pct: float) -> float:
    """Active power of a healthy lamp: relay state and dim level 0-100."""
    if not on:
        return STANDBY_W
    fraction = min(max(level_pct, 0.0), 100.0) / 100.0
    curve: float = fraction**CURVE_EXPONENT
    return STANDBY_W + rated_w * (MIN_OUTPUT + (1.0 - MIN_OUTPUT) * curve)


def power_factor(load_fraction: float) -> float:
    """Power factor of an LED driver at a fraction of its rated load: it falls at low load."""
    load = min(max(load_fraction, 0.0), 1.2)
    if load < 0.02:
        return 0.35  # the node's electronics alone
    shortfall = 1.0 - min(load, 1.0)
    return 0.97 - 0.32 * shortfall * shortfall
