"""Settings: one object, built in one place (from the command line or the environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Everything the hub can be told; each field is documented in the README."""

    store: str = "sqlite:///hub.db"
    hub_provider: str = "connec"
    default_top: int = 100
    max_top: int = 1000
    max_batch: int = 1000
    max_body_bytes: int = 10 * 1024 * 1024
    changes_retention_seconds: int = 7 * 24 * 3600
    prune_interval_seconds: int = 300
    lease_seconds: int = 60
    max_lease_seconds: int = 3600
    retry_backoff_seconds: int = 10
    retry_backoff_max_seconds: int = 3600
    webhook_timeout_seconds: int = 10
    webhook_poll_seconds: float = 1.0
    max_json_depth: int = 32
    key_cache_seconds: int = 5

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then HUB_* environment variables, then explicit overrides."""
        values: dict[str, object] = {}
        for name, field in cls.__dataclass_fields__.items():
            raw = os.environ.get(f"HUB_{name.upper()}")
            if raw is not None:
                values[name] = {"int": int, "float": float}.get(str(field.type), str)(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
