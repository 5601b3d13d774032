"""Deterministic noise: the same seed, key and time give the same value, in any order.

Telemetry must be reproducible with `--seed` whatever order the simulator happens to compute
it in (a Modbus read can come at any moment), so noise is a pure function of (key, time)
rather than draws from one shared random stream.
"""

from __future__ import annotations

import math
import zlib

_MASK = (1 << 64) - 1


def splitmix64(value: int) -> int:
    """A 64-bit hash with good mixing (Steele, Lea and Flood's SplitMix64 finaliser)."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def key_of(seed: int, name: str) -> int:
    """A stable 64-bit key for a named thing (Python's own hash() changes between runs)."""
    return splitmix64((seed & _MASK) ^ (zlib.crc32(name.encode()) << 16))


def uniform(key: int, n: int) -> float:
    """A number in [0, 1) for the n-th draw of `key`."""
    return splitmix64(key ^ (n * 0xD1B54A32D192ED03 & _MASK)) / 2.0**64


def signed(key: int, n: int) -> float:
    """A number in [-1, 1) for the n-th draw of `key`."""
    return 2.0 * uniform(key, n) - 1.0


def smooth(key: int, seconds: float, period: float) -> float:
    """Slowly varying noise in [-1, 1]: random knots every `period` s, cosine-interpolated."""
    position = seconds / period
    knot = math.floor(position)
    fraction = position - knot
    weight = (1.0 - math.cos(math.pi * fraction)) / 2.0
    return signed(key, knot) * (1.0 - weight) + signed(key, knot + 1) * weight
