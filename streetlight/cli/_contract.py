"""`streetlight contract schemas [--write DIR]`: the JSON schemas of the bus payloads."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from streetlight.contract import json_schemas
from streetlight.profiles import load_profiles
from streetlight.profiles._docs import profile_section


def add_parser(roles: Any) -> None:
    parser = roles.add_parser(
        "contract", help="print or write the payloads' JSON schemas, or the profiles as tables"
    )
    parser.add_argument("what", choices=("schemas", "profiles"))
    parser.add_argument("--write", type=Path, metavar="DIR", help="write one file per payload")
    parser.set_defaults(handler=run)


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.what == "profiles":
        for profile in load_profiles().values():
            print(profile_section(profile) + "\n")
        return 0
    schemas = json_schemas()
    if args.write is None:
        print(json.dumps(schemas, indent=2, sort_keys=True))
        return 0
    args.write.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        path = args.write / f"{name}.schema.json"
        path.write_text(schema_text(schema))
        print(path)
    return 0
