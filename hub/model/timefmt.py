"""Timestamps as fixed-width UTC strings, so that text order is time order in every store."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

_STORED = "%Y-%m-%dT%H:%M:%S.%fZ"
_LEAP = re.compile(r"(?<=[Tt ][0-9]{2}:[0-9]{2}:)60")
"""The seconds of a leap second (`23:59:60`): ISO 8601 writes it, but Python's times and the stores' have none."""
_second: tuple[int, str] = (-1, "")
"""The last whole second formatted, and its text: a write asks the time several times per record."""


def now() -> str:
    """The current time in the stored form (as `datetime.now(UTC).strftime(_STORED)`, a few times faster)."""
    global _second
    second, micros = divmod(time.time_ns() // 1000, 1_000_000)
    if second != _second[0]:
        _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_second[1]}.{micros:06d}Z"


def canonical(value: str) -> str:
    """Parse an ISO 8601 date or datetime (naive means UTC) into the stored form.

    Raises ValueError, saying why, on anything else.
    """
    text = value.strip()
    if "\x00" in text:  # Python's parser ends an offset there: `…Z<U+0000>junk` was taken, the junk dropped
        raise ValueError(f"{value!r} holds the character U+0000")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_unread(value, text)) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return _stored(parsed)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise ValueError(f"{value!r} falls outside the years 1 to 9999 in UTC") from None


def _unread(value: str, text: str) -> str:
    """Why `text` (`value` as given) is no time: a leap second is said as one, not as no ISO 8601."""
    if _LEAP.search(text):
        try:
            datetime.fromisoformat(_LEAP.sub("59", text, count=1))
        except ValueError:
            pass
        else:
            return f"{value!r} is a leap second, which the hub's times do not hold: give :59.999999"
    return f"{value!r} is not an ISO 8601 date or datetime"


def _stored(moment: datetime) -> str:
    """An aware datetime in the stored form, its year always in four digits (strftime's %Y drops leading zeros)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def display(stored: str) -> str:
    """The stored form without a zero fraction: `2016-10-04T00:36:23Z` as clients know it."""
    return stored.replace(".000000Z", "Z")


EARLIEST = "0001-01-01T00:00:00.000000Z"
LATEST = "9999-12-31T23:59:59.999999Z"


def shift(stored: str, seconds: float) -> str:
    """A stored timestamp moved by `seconds` (negative: earlier), in the stored form, kept within the years 1 to 9999.

    A setting may count further than that (a retention of 3,200 years, meaning "keep every change"): the cut-off
    before year 1 prunes nothing, where the overflow made the pruning task fail every time it ran.
    """
    parsed = datetime.strptime(stored, _STORED).replace(tzinfo=UTC)
    try:
        return _stored(parsed + timedelta(seconds=seconds))
    except OverflowError:  # past year 9999 or before year 1, or more days than a timedelta holds
        return EARLIEST if seconds < 0 else LATEST
