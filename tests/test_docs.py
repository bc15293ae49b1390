"""The README documents every setting (a table row each), and its examples show what the hub answers."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from starlette.testclient import TestClient

from hub.config import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    for field in fields(Settings):
        rows = (f"| `HUB_{field.name.upper()}` |", f"| `{field.name}` |")
        assert any(row in README for row in rows), f"setting {field.name} is missing from the README's tables"


def _example_after(text: str) -> str:
    """The first code block of the README after `text`."""
    return README.split(text, 1)[1].split("```\n", 2)[1]


def _top_level_keys(example: str) -> list[str]:
    """The keys of the outermost object of an example, in order (the example need not be JSON: `…`, `<hub id>`)."""
    keys, depth = [], 0
    for match in re.finditer(r'[{}\[\]]|"(\w+)":', example):
        token = match.group(0)
        depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(token, 0)
        if match.group(1) and depth == 1:
            keys.append(match.group(1))
    return keys


def test_the_merge_entry_example_is_what_a_merge_records(client: TestClient) -> None:
    """The example showed `"actor": "anonymous"` (from before keys existed) and left out `group_id` and `collection`."""
    base = "/api/v2/cld-1/organizations"
    a = client.post(base, json={"organizations": {"name": "A"}}).json()["organizations"]["id"]
    b = client.post(base, json={"organizations": {"name": "B"}}).json()["organizations"]["id"]
    entry = client.post(f"{base}/{a}/merge", json={"records": [b], "fields": {"name": "Initech"}}).json()["merge"]
    example = _example_after("Every merge is recorded")
    assert _top_level_keys(example) == list(entry)
    [actor] = re.findall(r'"actor": "([^"]*)"', example)
    assert re.fullmatch(re.escape(actor).replace("…", ".+"), entry["actor"]), (actor, entry["actor"])
    before = re.search(r"<each record before: ([^>]*)>", example)
    assert before is not None and before.group(1).split(", ") == list(entry["before"][0])
