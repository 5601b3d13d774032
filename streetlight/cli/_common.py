"""Pieces several subcommands share: settings, logging, running an asyncio main."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic_settings import BaseSettings

from streetlight.logs import setup_logging
from streetlight.settings import load_settings

S = TypeVar("S", bound=BaseSettings)


def settings_and_logging(cls: type[S]) -> S:
    """The role's settings from the environment; logging set to their level."""
    settings = load_settings(cls)
    setup_logging(getattr(settings, "log_level", "INFO"))
    return settings


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run `main(stop)` in a new event loop; SIGINT and SIGTERM set `stop` instead of killing."""

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            return await main(stop)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(signum)

    return asyncio.run(runner())
