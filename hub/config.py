"""Settings: one object, built in one place (from the command line or the environment)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from hub.model.ids import IdPart
from hub.model.numbers import whole

_ID_PART = TypeAdapter(IdPart)


class BadSetting(ValueError):
    """A setting the hub cannot run with: which one, and why."""


_AT_LEAST_ONE = (
    "default_top",
    "max_top",
    "max_batch",
    "max_body_bytes",
    "max_json_depth",
    "lease_seconds",
    "prune_interval_seconds",
    "webhook_timeout_seconds",
    "webhook_max_connections",
    "request_head_seconds",
    "request_body_min_rate",
    "response_stall_seconds",
)
POLL_LEAST = 0.01
"""The shortest `webhook_poll_seconds`: at 0 (or a nanosecond) the task ran again at once, without end, spinning a
core while the hub was idle."""
_NOT_BEFORE = (
    ("default_top", "max_top"),
    ("lease_seconds", "max_lease_seconds"),
    ("webhook_timeout_seconds", "max_lease_seconds"),  # a webhook batch is leased for the timeout and 5 s
)
_NOT_AFTER = (("retry_backoff_seconds", "retry_backoff_max_seconds"),)


def _parsed(variable: str, raw: str, kind: str) -> object:
    """A setting's value from its variable: whole numbers in ASCII digits, numbers in decimals (as a query string
    writes them: `int` also takes `1_000` and Arabic-Indic digits, `float` `nan` and `inf`)."""
    if kind == "int":
        number = whole(raw)
        if number is None:
            raise BadSetting(f"{variable}={raw!r} is not a whole number")
        return number
    if kind == "float":
        if not _DECIMAL.fullmatch(raw):
            raise BadSetting(
                f"{variable}={raw!r} is not a number in decimals: up to 18 digits, a point and up to 9 more"
            )
        return float(raw)
    if kind == "bool":
        if raw not in ("true", "false"):
            raise BadSetting(f"{variable}={raw!r} is not true or false")
        return raw == "true"
    return raw


_DECIMAL = re.compile(r"[0-9]{1,18}(\.[0-9]{1,9})?")


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
    webhook_max_connections: int = 256
    """How many webhook POSTs the hub has in flight at once, across every integration (each its own connection):
    integrations' `parallel` bound each, this bounds the file descriptors they hold together."""
    webhook_local_network: bool = False
    """Whether webhooks may POST to the hub's own machine or network (`network.local`): off, an app's key could
    not make the hub reach what the internet cannot."""
    max_json_depth: int = 32
    key_cache_seconds: int = 5
    request_head_seconds: int = 10
    """How long `hub serve` waits for a request head, from the connection or its first byte after an answer."""
    request_body_min_rate: int = 1024
    """The bytes a second a request body must arrive at, on average, after a first `request_head_seconds`."""
    response_stall_seconds: int = 60
    """How long `hub serve` waits on a client that leaves an answer unread, before it drops the connection."""

    def __post_init__(self) -> None:
        """Refuse, naming it, a setting the hub would misbehave with rather than run on it."""
        try:  # the hub's own ids pass as an app's do: past 255 characters, an id array read and sent back was a 422
            _ID_PART.validate_python(self.hub_provider)
        except ValidationError:
            raise BadSetting("hub_provider must be an id part: 1 to 255 characters, not spaces alone") from None
        for name, value in vars(self).items():
            least = 1 if name in _AT_LEAST_ONE else 0
            if isinstance(value, int | float) and value < least:
                raise BadSetting(f"{name} must be at least {least}, not {value}")
        if self.webhook_poll_seconds < POLL_LEAST:
            raise BadSetting(f"webhook_poll_seconds must be at least {POLL_LEAST:g}, not {self.webhook_poll_seconds:g}")
        for low, high in (*_NOT_BEFORE, *_NOT_AFTER):
            if getattr(self, low) > getattr(self, high):
                raise BadSetting(f"{low} ({getattr(self, low)}) must not be more than {high} ({getattr(self, high)})")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then HUB_* environment variables, then explicit overrides."""
        values: dict[str, object] = {}
        for name, field in cls.__dataclass_fields__.items():
            raw = os.environ.get(f"HUB_{name.upper()}")
            if raw is not None:
                values[name] = _parsed(f"HUB_{name.upper()}", raw, str(field.type))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


_OPTIONS = {"HUB_HOST": "hub serve --host", "HUB_PORT": "hub serve --port"}
"""Variables a container's conventions suggest for what only the command line sets."""


def misspelt(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """Each HUB_* variable that names no setting but nearly names one, with the one it nearly names: a typo left
    the setting at its default without a word; so did `HUB_PORT`, which names an option of `hub serve`. Others
    (`HUB_KEY`, a shell's own) are no near miss and pass."""
    known = [f"HUB_{name.upper()}" for name in Settings.__dataclass_fields__]
    missed = (v for v in sorted(environ) if v.startswith("HUB_") and v not in known)
    return [(v, meant) for v in missed if (meant := _OPTIONS.get(v) or _nearest(v, known))]


def _nearest(variable: str, known: list[str]) -> str | None:
    close = difflib.get_close_matches(variable, known, n=1, cutoff=0.85)
    return close[0] if close else None
