"""Who may do what on the local broker: identities, passwords and an ACL, generated.

One identity per role (gateway, controller, api, simulator, and operator for people's
commands), one per device class (each MQTT
device profile: the nodes of that model share it), and `admin` for operators and tests. A
device identity may publish only its class's reports, acknowledgements and link status, and
read only its class's commands; it cannot touch the internal bus. Topic roots may be `+`, so
one broker serves tests that each use a root of their own.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from pathlib import Path

from streetlight.profiles import MqttLampProfile

ROLES = ("gateway", "controller", "api", "simulator", "operator", "admin")


def _field_topic(template: str, field_root: str) -> str:
    return re.sub(r"\{(\w+)\}", "+", template.replace("{root}", field_root))


def acl_text(bus_root: str, field_root: str, device_classes: dict[str, MqttLampProfile]) -> str:
    """Mosquitto's ACL file for the roles and device classes."""
    bus = f"{bus_root}/v1"
    vendor_up: list[str] = []
    vendor_down: list[str] = []
    for profile in device_classes.values():
        t = profile.topics
        vendor_up += [_field_topic(x, field_root) for x in (t.report, t.ack, t.link_status)]
        vendor_down += [_field_topic(x, field_root) for x in (t.command, t.group_command)]
    rules: dict[str, list[str]] = {
        "gateway": [
            *(f"topic read {topic}" for topic in vendor_up),
            *(f"topic write {topic}" for topic in vendor_down),
            f"topic read {bus}/command/#",
            f"topic write {bus}/telemetry/#",
            f"topic write {bus}/ack/#",
            f"topic write {bus}/status/#",
            f"topic write {bus}/health/gateway/#",
        ],
        "controller": [
            f"topic read {bus}/telemetry/#",
            f"topic read {bus}/ack/#",
            f"topic read {bus}/status/#",
            f"topic read {bus}/health/#",
            f"topic read {bus}/schedule/#",
            f"topic readwrite {bus}/alarm/#",
            f"topic write {bus}/command/#",
            f"topic write {bus}/status/controller/#",
            f"topic write {bus}/health/controller/#",
        ],
        "api": [
            f"topic read {bus}/#",
            f"topic write {bus}/status/api/#",
            f"topic write {bus}/schedule/api/#",
            # operators' acknowledgements and closures: the alarm's retained event, restated
            f"topic write {bus}/alarm/#",
        ],
        "simulator": [f"topic readwrite {field_root}/simulator/#"],
        # people's commands (`streetlight controller override ...`): they only announce
        "operator": [f"topic write {bus}/schedule/operator/#"],
        "admin": ["topic readwrite #"],
    }
    for identity, profile in device_classes.items():
        t = profile.topics
        rules[identity] = [
            *(
                f"topic write {_field_topic(x, field_root)}"
                for x in (t.report, t.ack, t.link_status)
            ),
            *(f"topic read {_field_topic(x, field_root)}" for x in (t.command, t.group_command)),
        ]
    lines = ["# written by streetlight services: roles and device classes (docs/contract.md)"]
    for identity, identity_rules in rules.items():
        lines += ["", f"user {identity}", *identity_rules]
    return "\n".join(lines) + "\n"


def load_credentials(path: Path, identities: list[str]) -> dict[str, str]:
    """The identities' passwords, kept in `path` (mode 0600), made up for new identities."""
    try:
        known: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    changed = False
    for identity in identities:
        if identity not in known:
            known[identity] = secrets.token_urlsafe(18)
            changed = True
    if changed or not path.exists():
        path.write_text(json.dumps(known, indent=2) + "\n")
        path.chmod(0o600)
    return {identity: known[identity] for identity in identities}


def write_password_file(path: Path, credentials: dict[str, str], mosquitto_passwd: Path) -> None:
    """Mosquitto's password file, hashed by its own `mosquitto_passwd -U`."""
    path.write_text("".join(f"{user}:{password}\n" for user, password in credentials.items()))
    path.chmod(0o600)
    subprocess.run(  # noqa: S603 - Debian's tool, on our own file
        [str(mosquitto_passwd), "-U", str(path)],
        check=True,
        capture_output=True,
        env={**os.environ, "LC_ALL": "C"},
    )
