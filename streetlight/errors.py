"""The root of every error Streetlight raises on purpose.

Each message is one line meant for the person running the process: it names what was wrong
and where (a variable, a file and row, a server URL). The CLI prints it without a traceback.
"""


class StreetlightError(Exception):
    """Base class of the project's own errors."""


class ConfigError(StreetlightError):
    """A setting is missing or has a value the process cannot use."""
