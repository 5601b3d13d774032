"""The API's settings: `STREETLIGHT_API_*` besides the common ones, built in `main()`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from streetlight.settings import CommonSettings

# the web console's files: the repository's console/, beside the api package
CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"
# secrets a deployment must never run with: the examples' placeholders
KNOWN_SECRETS = frozenset({"change-me", "changeme", "secret", "streetlight", "development"})
MIN_SECRET_CHARS = 32


class ApiSettings(CommonSettings):
    """What the API needs besides the bus, the time series and the store."""

    # development (the demo, the tests) may run with a secret made up at start, whose tokens
    # die with the process; anywhere else the API refuses to start without a real secret
    api_development: bool = False
    api_secret: SecretStr | None = Field(default=None, validate_default=True)
    api_id: str = Field(default="api", pattern=r"^[A-Za-z0-9._-]{1,64}$")  # on the bus
    api_token_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    api_login_attempts: int = Field(default=5, ge=1, le=1000)  # per name and address ...
    api_login_window_s: float = Field(default=300.0, gt=0)  # ... in this window
    # a caller recognised once is held this long: a revocation through another process holds
    # within it (one through this process, at once)
    api_auth_cache_s: float = Field(default=2.0, ge=0, le=60)
    api_max_body_mb: float = Field(default=32.0, gt=0, le=1024)
    api_page_max: int = Field(default=1000, ge=1, le=100_000)
    api_history_points_max: int = Field(default=5000, ge=10, le=1_000_000)
    # a lamp not heard for this long is offline on the map (3 reporting intervals of 300 s)
    api_stale_s: float = Field(default=900.0, gt=0)
    # how often the alarm list (held in memory, api.alarm_index) reads the store's changes;
    # it reads them at once, too, when the bus tells of an alarm
    api_alarm_sync_s: float = Field(default=1.0, gt=0, le=60)
    # the web console (api.console): where its files are, and an optional raster tile server
    # for its map ({z}/{x}/{y} template); without one, the district's roads are the base
    api_console_dir: Path = CONSOLE_DIR
    api_tile_url: str | None = Field(default=None, pattern=r"^https?://[^\s'\";]+$")
    api_tile_attribution: str = Field(default="", max_length=200)

    @field_validator("api_secret")
    @classmethod
    def _real_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("api_development"):
            return value
        if value is None:
            raise ValueError(
                "required outside development: a random string of at least "
                f"{MIN_SECRET_CHARS} characters (e.g. `openssl rand -hex 32`)"
            )
        secret = value.get_secret_value()
        if secret.lower() in KNOWN_SECRETS or len(secret) < MIN_SECRET_CHARS:
            raise ValueError(
                f"must be a random string of at least {MIN_SECRET_CHARS} characters, "
                "not a placeholder"
            )
        return value

    @property
    def max_body_bytes(self) -> int:
        return int(self.api_max_body_mb * 1024 * 1024)
