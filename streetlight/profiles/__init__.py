"""Device profiles (profiles/*.yaml): a new controller model is a new file, not new code."""

from streetlight.profiles._check import inventory_problems, profile_check, profile_problem
from streetlight.profiles._codec import CodecError, decode, encode, fault_word, faults_of
from streetlight.profiles._commands import ack_body, command_body, read_ack, read_command
from streetlight.profiles._json import JsonPath, compiled
from streetlight.profiles._loader import (
    DEFAULT_DIR,
    ProfileError,
    load_profile,
    load_profiles,
    profile_json_schema,
    read_profiles,
)
from streetlight.profiles._model import (
    BIT_TABLES,
    REGISTER_TABLES,
    ModbusCabinetProfile,
    ModbusLampProfile,
    ModbusProfile,
    Profile,
    RegisterSpec,
)
from streetlight.profiles._mqtt import (
    DEFAULT_STATES,
    DeviceSpec,
    FaultSpec,
    JsonField,
    JsonTime,
    MqttLampProfile,
)
from streetlight.profiles._units import CANONICAL_UNITS, VENDOR_UNITS, Conversion, conversion

__all__ = [
    "BIT_TABLES",
    "CANONICAL_UNITS",
    "DEFAULT_DIR",
    "DEFAULT_STATES",
    "REGISTER_TABLES",
    "VENDOR_UNITS",
    "CodecError",
    "Conversion",
    "DeviceSpec",
    "FaultSpec",
    "JsonField",
    "JsonPath",
    "JsonTime",
    "ModbusCabinetProfile",
    "ModbusLampProfile",
    "ModbusProfile",
    "MqttLampProfile",
    "Profile",
    "ProfileError",
    "RegisterSpec",
    "ack_body",
    "command_body",
    "compiled",
    "conversion",
    "decode",
    "encode",
    "fault_word",
    "faults_of",
    "inventory_problems",
    "load_profile",
    "load_profiles",
    "profile_check",
    "profile_json_schema",
    "profile_problem",
    "read_ack",
    "read_command",
    "read_profiles",
]
