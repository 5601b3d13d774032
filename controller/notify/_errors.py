"""The notifier's errors, in one hierarchy."""

from __future__ import annotations

from streetlight.errors import ConfigError, StreetlightError


class NotifyError(StreetlightError):
    """Base class of the notifier's errors."""


class NotifyConfigError(NotifyError, ConfigError, ValueError):
    """A notification file that cannot be used; the message names the file and the key."""


class DeliveryError(NotifyError):
    """A message did not reach its target."""


class TransientError(DeliveryError):
    """The target could not be reached or asked us to come back later: worth another try."""


class RejectedError(DeliveryError):
    """The target answered and refused the message: trying again would not help."""
