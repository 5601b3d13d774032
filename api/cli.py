"""`streetlight api`: serve the HTTP API; `streetlight api user add`: make an account.

    streetlight api [--host 127.0.0.1] [--port 8000]
    streetlight api user add --name NAME --role admin [--maintainer ID] [--password-stdin]
    streetlight api user password --name NAME [--password-stdin]

There is no default account: the first admin is made with `user add`, whose password comes on
standard input or is made up and printed once.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from datetime import UTC, datetime
from typing import Any

import uvicorn
import uvloop

from api.app import create_app
from api.security import passwords
from api.settings import ApiSettings
from streetlight.cli import run_until_signal, settings_and_logging
from streetlight.errors import ConfigError
from streetlight.store import open_store, sessions
from streetlight.store.users import Role, add_user, audit, update_user

GENERATED_PASSWORD_BYTES = 15  # 20 characters of base64


def add_parser(roles: Any) -> None:
    api = roles.add_parser("api", help="serve operators, crews and acceptance committees")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on")
    api.add_argument("--port", type=int, default=8000, help="port to listen on")
    api.set_defaults(handler=run)
    actions = api.add_subparsers(dest="action", metavar="ACTION")
    user = actions.add_parser("user", help="accounts of the API")
    verbs = user.add_subparsers(dest="verb", required=True, metavar="VERB")
    add = verbs.add_parser("add", help="add an account (its password from stdin, or made up)")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--maintainer", help="for a maintainer: the maintainer id whose sites")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=user_add)
    password = verbs.add_parser(
        "password", help="set a new password (from stdin, or made up); older tokens are refused"
    )
    password.add_argument("--name", required=True)
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(handler=user_password)


def run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(ApiSettings)
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_config=None, access_log=False,
        http="httptools", lifespan="on", timeout_graceful_shutdown=10,
    )  # fmt: skip
    server = uvicorn.Server(config)

    async def main(stop: asyncio.Event) -> int:
        serving = asyncio.create_task(server.serve(), name="api-serve")
        stopping = asyncio.create_task(stop.wait(), name="api-stop")
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True  # uvicorn's own signal handling may have set it already
        stopping.cancel()
        await serving
        return 0 if server.started else 1

    print(f"api: http://{args.host}:{args.port}/api/v1/docs; Ctrl-C to stop", flush=True)
    # uvloop: the loop's share of a request (its callbacks, the sockets' reads and writes)
    # costs about half what asyncio's does, and a single worker answers every request
    return run_until_signal(main, loop_factory=uvloop.new_event_loop)


def user_add(args: argparse.Namespace) -> int:
    settings = settings_and_logging(ApiSettings)
    made_up = not args.password_stdin
    password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES) if made_up else _stdin_password()
    role = Role(args.role)

    async def main() -> None:
        async with open_store(settings) as engine, sessions(engine)() as session, session.begin():
            now = settings.clock().now()
            account = await add_user(
                session, name=args.name, role=role, password_hash=passwords.hash(password),
                maintainer_id=args.maintainer, by="cli", at=now,
            )  # fmt: skip
            created = {
                "name": account.name,
                "role": role.value,
                "maintainer": account.maintainer_id,
            }
            await audit(session, actor="cli", action="user.create", target=f"user:{account.name}",
                        after=created, at=now)  # fmt: skip

    asyncio.run(main())
    print(f"user {args.name} ({role.value}) added")
    if made_up:
        print(f"password: {password}  (shown once: keep it now)")
    return 0


def user_password(args: argparse.Namespace) -> int:
    settings = settings_and_logging(ApiSettings)
    made_up = not args.password_stdin
    password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES) if made_up else _stdin_password()

    async def main() -> None:
        async with open_store(settings) as engine, sessions(engine)() as session, session.begin():
            now = settings.clock().now()
            await update_user(session, args.name, password_hash=passwords.hash(password),
                              tokens_after=datetime.now(UTC), at=now)  # fmt: skip
            await audit(session, actor="cli", action="user.password", target=f"user:{args.name}",
                        after={"password_changed": True}, at=now)  # fmt: skip

    asyncio.run(main())
    print(f"user {args.name}: new password set")
    if made_up:
        print(f"password: {password}  (shown once: keep it now)")
    return 0


def _stdin_password() -> str:
    password = sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        raise ConfigError("the password on standard input must have at least 12 characters")
    return password
