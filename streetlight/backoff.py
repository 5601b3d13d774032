"""Capped, jittered exponential backoff, and logging a link's state once per change.

Reconnect loops and bounded retries share `Backoff`; `LinkState` logs "unreachable" once when a
link fails and "recovered" once when it comes back, instead of a line per attempt.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays of initial, initial*factor, ... up to `cap`, each with +-`jitter` of itself."""

    initial: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    jitter: float = 0.25
    _attempt: int = field(default=0, init=False)
    _rng: random.Random = field(default_factory=random.Random, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError("backoff needs 0 < initial <= cap")
        if self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("backoff needs factor >= 1 and 0 <= jitter < 1")

    def next_delay(self) -> float:
        base = min(self.cap, self.initial * self.factor**self._attempt)
        self._attempt += 1
        return base * (1 + self._rng.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self._attempt = 0

    @property
    def attempts(self) -> int:
        return self._attempt


class LinkState:
    """Tracks whether a link (a server, a device) is up and logs only the transitions."""

    def __init__(self, logger: logging.Logger, name: str) -> None:
        self._logger = logger
        self._name = name
        self._down_reason: str | None = None

    @property
    def up(self) -> bool:
        return self._down_reason is None

    def failed(self, reason: str) -> bool:
        """Note a failure; logs and returns True only when the link was up until now."""
        was_up = self._down_reason is None
        self._down_reason = reason
        if was_up:
            self._logger.warning("%s unreachable: %s", self._name, reason)
        return was_up

    def ok(self) -> bool:
        """Note a success; logs and returns True only when the link was down until now."""
        if self._down_reason is None:
            return False
        self._logger.info("%s recovered (was: %s)", self._name, self._down_reason)
        self._down_reason = None
        return True
