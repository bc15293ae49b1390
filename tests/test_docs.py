"""The README documents every setting (a table row each)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from hub.config import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    for field in fields(Settings):
        rows = (f"| `HUB_{field.name.upper()}` |", f"| `{field.name}` |")
        assert any(row in README for row in rows), f"setting {field.name} is missing from the README's tables"
