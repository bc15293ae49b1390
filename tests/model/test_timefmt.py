"""Timestamps: now() in the stored form, and every date stored fixed-width so that text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.model import timefmt


def test_now_is_the_stored_form_of_the_current_time() -> None:
    for _ in range(1000):
        before = datetime.now(UTC)
        stamp = timefmt.now()
        after = datetime.now(UTC)
        assert len(stamp) == 27 and stamp.endswith("Z")
        assert before <= datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) <= after
        assert timefmt.canonical(stamp) == stamp


def test_early_years_keep_four_digits_so_text_order_stays_time_order() -> None:
    stamps = [timefmt.canonical(v) for v in ("0001-01-11", "0999-05-05T10:00:00+02:00", "1985-01-29T00:00:00Z")]
    assert stamps == ["0001-01-11T00:00:00.000000Z", "0999-05-05T08:00:00.000000Z", "1985-01-29T00:00:00.000000Z"]
    assert sorted(stamps) == stamps
    assert timefmt.shift(stamps[0], 60) == "0001-01-11T00:01:00.000000Z"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_a_moment_outside_the_years_1_to_9999_in_utc_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="outside the years 1 to 9999 in UTC"):
        timefmt.canonical(value)


@pytest.mark.parametrize("value", ["2016-12-31T23:59:60Z", "2016-12-31T23:59:60.5+00:00", "2016-12-31 23:59:60"])
def test_a_leap_second_is_refused_as_one_not_as_no_iso_8601(value: str) -> None:
    """It is ISO 8601; the times here, as Python's and the stores', have no 61st second."""
    with pytest.raises(ValueError, match="a leap second"):
        timefmt.canonical(value)
    with pytest.raises(ValueError, match="is not an ISO 8601"):  # a leap second of no day
        timefmt.canonical(value.replace("-12-", "-13-"))


@pytest.mark.parametrize("seconds", [10**12, 10**17, 10**18 - 1])
def test_a_shift_past_the_years_1_to_9999_stops_at_their_ends(seconds: int) -> None:
    """A retention counting back past year 1 overflowed, and the pruning task failed each time it ran."""
    assert timefmt.shift(timefmt.now(), -seconds) == timefmt.EARLIEST == "0001-01-01T00:00:00.000000Z"
    assert timefmt.shift(timefmt.now(), seconds) == timefmt.LATEST == "9999-12-31T23:59:59.999999Z"


def test_digits_past_the_microsecond_are_dropped_not_rounded() -> None:
    """As README says: a filter's `ge`/`lt` of one such time split the records in two, as a body's value stores."""
    assert timefmt.canonical("2026-01-05T10:00:00.1234567Z") == "2026-01-05T10:00:00.123456Z"
    assert timefmt.canonical("2026-01-05T10:00:00.999999999999+00:00") == "2026-01-05T10:00:00.999999Z"
