"""Device profiles (profiles/*.yaml): a new controller model is a new file, not new code."""

from streetlight.profiles._codec import CodecError, decode, encode, fault_word, faults_of
from streetlight.profiles._loader import DEFAULT_DIR, ProfileError, load_profile, load_profiles
from streetlight.profiles._model import (
    BIT_TABLES,
    REGISTER_TABLES,
    JsonField,
    ModbusCabinetProfile,
    ModbusLampProfile,
    ModbusProfile,
    MqttLampProfile,
    Profile,
    RegisterSpec,
)

__all__ = [
    "BIT_TABLES",
    "DEFAULT_DIR",
    "REGISTER_TABLES",
    "CodecError",
    "JsonField",
    "ModbusCabinetProfile",
    "ModbusLampProfile",
    "ModbusProfile",
    "MqttLampProfile",
    "Profile",
    "ProfileError",
    "RegisterSpec",
    "decode",
    "encode",
    "fault_word",
    "faults_of",
    "load_profile",
    "load_profiles",
]
