"""Timestamps as fixed-width UTC strings, so that text order is time order in every store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

_STORED = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> str:
    return datetime.now(UTC).strftime(_STORED)


def canonical(value: str | datetime | date) -> str:
    """Parse an ISO 8601 date or datetime (naive means UTC) into the stored form.

    Raises ValueError on anything else.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    elif isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime(value.year, value.month, value.day)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime(_STORED)


def display(stored: str) -> str:
    """The stored form without a zero fraction: `2016-10-04T00:36:23Z` as clients know it."""
    return stored.replace(".000000Z", "Z")


def shift(stored: str, seconds: float) -> str:
    """A stored timestamp moved by `seconds` (negative: earlier), in the stored form."""
    parsed = datetime.strptime(stored, _STORED).replace(tzinfo=UTC)
    return (parsed + timedelta(seconds=seconds)).strftime(_STORED)
