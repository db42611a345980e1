"""Settings, read once from the environment at the edge (CLI, app factory).

Nothing below `create_app`/the CLI reads `os.environ`; everything gets a `Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

DEFAULT_DATABASE_URL = "sqlite:///headwater.db"
MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_DISCOVER_INTERVAL = 600.0

#: environment variable -> Settings field, documented in docs/configuration.md
ENVIRONMENT = {
    "HEADWATER_DATABASE_URL": "database_url",
    "HEADWATER_HOST": "host",
    "HEADWATER_PORT": "port",
    "HEADWATER_EMBEDDED_WORKER": "embedded_worker",
    "HEADWATER_LOG_LEVEL": "log_level",
    "HEADWATER_RATE_LIMIT": "rate_limit",
    "HEADWATER_RATE_BURST": "rate_burst",
    "HEADWATER_POLL_INTERVAL": "poll_interval",
    "HEADWATER_LEASE": "lease_seconds",
    "HEADWATER_DISCOVER_INTERVAL": "discover_interval",
    "HEADWATER_CONSOLE": "console",
}


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    #: run the normalizer inside the API process (the embedded default)
    embedded_worker: bool = True
    log_level: str = "info"
    max_body_bytes: int = field(default=MAX_BODY_BYTES)
    #: requests per second per API key (0 turns limiting off), and the burst allowed
    rate_limit: float = 1000.0
    rate_burst: float = 2000.0
    #: the normalizer's seconds between polls when idle, and how long a claimed batch
    #: stays its own before another worker may take it
    poll_interval: float = 0.2
    lease_seconds: float = 60.0
    #: seconds between an organisation's scheduled discovery runs (spec §10.1); 0 = off
    discover_interval: float = DEFAULT_DISCOVER_INTERVAL

    #: serve the web console at /console (off for API-only deployments)
    console: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then HEADWATER_* variables, then explicit overrides (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for variable, name in ENVIRONMENT.items():
            if variable in env:
                values[name] = env[variable]
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls()
        if "port" in values:
            values["port"] = int(str(values["port"]))
        for name in (
            "rate_limit",
            "rate_burst",
            "poll_interval",
            "lease_seconds",
            "discover_interval",
        ):
            if name in values:
                values[name] = float(str(values[name]))
        for name in ("embedded_worker", "console"):
            if name in values and isinstance(values[name], str):
                values[name] = str(values[name]).lower() in {"1", "true", "yes"}
        return replace(settings, **values)  # type: ignore[arg-type]


#: every default, in one place: the CLI's options show and use these
DEFAULTS = Settings()
