"""Settings from the environment: each value takes its field's type."""

from __future__ import annotations

import pytest

from hub.config import BadSetting, Settings


def test_environment_values_take_the_fields_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_WEBHOOK_POLL_SECONDS", "0.25")
    monkeypatch.setenv("HUB_CHANGES_RETENTION_SECONDS", "86400")
    monkeypatch.setenv("HUB_HUB_PROVIDER", "hub")
    monkeypatch.setenv("HUB_WEBHOOK_LOCAL_NETWORK", "true")
    settings = Settings.from_env()
    assert (settings.webhook_poll_seconds, settings.changes_retention_seconds) == (0.25, 86400)
    assert settings.hub_provider == "hub" and settings.webhook_local_network is True


def test_a_flag_is_true_or_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_WEBHOOK_LOCAL_NETWORK", "yes")
    with pytest.raises(BadSetting, match="HUB_WEBHOOK_LOCAL_NETWORK='yes' is not true or false"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("prune_interval_seconds", "prune_interval_seconds must be at least 1, not 0"),
        ("webhook_poll_seconds", "webhook_poll_seconds must be at least 0.01, not 0"),
        ("webhook_timeout_seconds", "webhook_timeout_seconds must be at least 1, not 0"),
    ],
)
def test_a_background_task_s_period_or_timeout_of_zero_is_refused(name: str, message: str) -> None:
    """At 0 the pruning and the webhook tasks each spun a core while the hub was idle (sleeping 0 between runs), and
    every webhook POST timed out before it was sent."""
    with pytest.raises(BadSetting) as refused:
        Settings(**{name: 0})
    assert str(refused.value) == message


def test_a_webhook_poll_of_a_nanosecond_is_refused() -> None:
    """Above 0 was not enough: a nanosecond spun a core as 0 did."""
    with pytest.raises(BadSetting) as refused:
        Settings(webhook_poll_seconds=1e-9)
    assert str(refused.value) == "webhook_poll_seconds must be at least 0.01, not 1e-09"
    assert Settings(webhook_poll_seconds=0.01).webhook_poll_seconds == 0.01


@pytest.mark.parametrize("provider", ["", "  ", "p" * 256])
def test_the_hub_provider_is_an_id_part(provider: str) -> None:
    """Over 255 characters, every record's id array sent back as read was refused with 422 (its hub id's provider)."""
    with pytest.raises(BadSetting, match="hub_provider must be an id part: 1 to 255 characters"):
        Settings(hub_provider=provider)
    assert Settings(hub_provider="p" * 255).hub_provider == "p" * 255


def test_a_webhook_timeout_past_the_longest_lease_is_refused() -> None:
    """A webhook batch is leased for the timeout and 5 s: a timeout of 10^18 s left a batch whose POST a stop cut short
    leased for ever, where the longest lease a request may ask for is `max_lease_seconds`."""
    with pytest.raises(BadSetting) as refused:
        Settings(webhook_timeout_seconds=10**18)
    assert str(refused.value) == f"webhook_timeout_seconds ({10**18}) must not be more than max_lease_seconds (3600)"
    assert Settings(webhook_timeout_seconds=3600).webhook_timeout_seconds == 3600


def test_a_number_the_hub_does_not_read_says_which_form_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """`1e300` was said to be "not a number"."""
    monkeypatch.setenv("HUB_WEBHOOK_POLL_SECONDS", "1e300")
    with pytest.raises(BadSetting) as refused:
        Settings.from_env()
    assert str(refused.value) == (
        "HUB_WEBHOOK_POLL_SECONDS='1e300' is not a number in decimals: up to 18 digits, a point and up to 9 more"
    )
