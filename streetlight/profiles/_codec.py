"""Values to Modbus registers and back, by a profile's data type, scale, word and byte order.

Modbus sends each 16-bit register big-endian. A 32-bit value spans two registers; "big" word
order puts the high word first (ABCD), "little" the low word first (CDAB). Some devices also
swap the two bytes inside each register ("little" byte order: BADC or DCBA).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from streetlight.contract.payloads import LampFault
from streetlight.profiles._model import RegisterSpec, WordOrder

_FORMATS = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "f32": ">f"}
_LIMITS = {
    "u16": (0, 0xFFFF),
    "i16": (-0x8000, 0x7FFF),
    "u32": (0, 0xFFFFFFFF),
    "i32": (-(2**31), 2**31 - 1),
}

Value = float | int | bool


class CodecError(ValueError):
    """A value that does not fit its register, or registers that are not a value."""


def encode(
    spec: RegisterSpec, value: Value, word_order: WordOrder, byte_order: WordOrder
) -> list[int]:
    """The registers that carry `value` (an engineering value: raw * scale)."""
    if spec.type == "bool":
        return [1 if value else 0]
    raw: float | int
    if spec.type == "f32":
        raw = float(value) / spec.scale
        if not math.isfinite(raw):
            raise CodecError(f"{value!r} is not a finite number")
    else:
        raw = round(float(value) / spec.scale)
        low, high = _LIMITS[spec.type]
        if not low <= raw <= high:
            raise CodecError(f"{value!r} does not fit {spec.type} at scale {spec.scale}")
    data = struct.pack(_FORMATS[spec.type], raw)
    words = [data[i : i + 2] for i in range(0, len(data), 2)]
    if word_order == "little":
        words.reverse()
    if byte_order == "little":
        words = [word[::-1] for word in words]
    return [int.from_bytes(word, "big") for word in words]


def decode(
    spec: RegisterSpec, registers: Sequence[int], word_order: WordOrder, byte_order: WordOrder
) -> Value:
    """The engineering value the registers carry; raises CodecError on a short read."""
    if len(registers) != spec.width:
        raise CodecError(f"{spec.type} needs {spec.width} registers, got {len(registers)}")
    if spec.type == "bool":
        return registers[0] != 0
    words = [register.to_bytes(2, "big") for register in registers]
    if byte_order == "little":
        words = [word[::-1] for word in words]
    if word_order == "little":
        words.reverse()
    (raw,) = struct.unpack(_FORMATS[spec.type], b"".join(words))
    if spec.type == "f32":
        if not math.isfinite(raw):
            raise CodecError(f"registers {list(registers)} are not a finite float")
        return float(raw) * spec.scale
    return raw * spec.scale if spec.scale != 1 else int(raw)


def faults_of(spec: RegisterSpec, raw: int) -> list[LampFault]:
    """The fault flags set in a fault word."""
    assert spec.bits is not None
    return [flag for bit, flag in sorted(spec.bits.items()) if raw >> bit & 1]


def fault_word(spec: RegisterSpec, faults: Sequence[LampFault]) -> int:
    """A fault word with the bits of `faults` set (flags the profile does not know are left out)."""
    assert spec.bits is not None
    return sum(1 << bit for bit, flag in spec.bits.items() if flag in faults)
