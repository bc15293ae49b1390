"""Timestamps: now() in the stored form, the same as formatting datetime.now(UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.model import timefmt


def test_now_is_the_stored_form_of_the_current_time() -> None:
    for _ in range(1000):
        before = datetime.now(UTC)
        stamp = timefmt.now()
        after = datetime.now(UTC)
        assert len(stamp) == 27 and stamp.endswith("Z")
        assert before <= datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) <= after
        assert timefmt.canonical(stamp) == stamp
