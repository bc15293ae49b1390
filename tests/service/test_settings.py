"""Settings from the environment: each value takes its field's type."""

from __future__ import annotations

import pytest

from hub.config import Settings


def test_environment_values_take_the_fields_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_WEBHOOK_POLL_SECONDS", "0.25")
    monkeypatch.setenv("HUB_CHANGES_RETENTION_SECONDS", "86400")
    monkeypatch.setenv("HUB_HUB_PROVIDER", "hub")
    settings = Settings.from_env()
    assert (settings.webhook_poll_seconds, settings.changes_retention_seconds) == (0.25, 86400)
    assert settings.hub_provider == "hub"
