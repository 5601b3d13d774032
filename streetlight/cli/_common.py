"""Pieces several subcommands share: settings, logging, running an asyncio main."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime
from types import FrameType
from typing import TypeVar

from pydantic_settings import BaseSettings

from streetlight.errors import StreetlightError
from streetlight.logs import setup_logging
from streetlight.settings import load_settings

S = TypeVar("S", bound=BaseSettings)


class OptionError(StreetlightError):
    """A command-line option whose value cannot be used; the message names the option."""


def moment_option(option: str, text: str) -> datetime:
    """An ISO 8601 moment with its UTC offset, as given to `option`."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise OptionError(f"{option} {text!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise OptionError(f"{option} {text!r} needs a UTC offset (e.g. +08:00)")
    return moment


def settings_and_logging(cls: type[S]) -> S:
    """The role's settings from the environment; logging set to their level."""
    settings = load_settings(cls)
    setup_logging(getattr(settings, "log_level", "INFO"))
    return settings


def run_until_signal(
    main: Callable[[asyncio.Event], Awaitable[int]],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> int:
    """Run `main(stop)` in a new event loop (`loop_factory`'s, e.g. uvloop's, or asyncio's);
    SIGINT and SIGTERM set `stop` instead of killing.

    The handlers are Python-level (`signal.signal`), not `loop.add_signal_handler`: asyncio
    learns of a signal through its self-pipe, and when thousands of MQTT clients' threads have
    filled that pipe with wake-ups, the signal's byte is dropped and the signal lost (seen: a
    simulator that never heard the SIGTERM of its dying demo). Python runs its own handlers
    from a flag set by the C handler, so none is lost; the handler then wakes the loop.
    """

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(stop.set)

        previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
        try:
            return await main(stop)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    with asyncio.Runner(loop_factory=loop_factory) as loop_runner:
        return loop_runner.run(runner())


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
