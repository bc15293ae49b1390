"""The README documents every setting (a table row each), and its examples show what the hub answers."""

from __future__ import annotations

import argparse
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hub.cli import parser
from hub.config import BadSetting, Settings
from hub.files import import_file
from hub.model.integration import Definition
from hub.store.mongo_schema import INDEXES as MONGO_INDEXES

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


def test_the_change_feed_section_names_every_key_of_details(client: TestClient) -> None:
    """`merge_id` (on a merge and its undo) and `key_link` (on a key link's link and unlink) were recorded but never
    named, so a reader could not know it may look a merge up, or tell a key link's change from a connect's."""
    base = "/api/v2/cld-1"
    a = client.post(f"{base}/organizations", json={"organizations": {"name": "A"}}).json()["organizations"]["id"]
    b = client.post(f"{base}/organizations", json={"organizations": {"name": "B"}}).json()["organizations"]["id"]
    for org in ([{"provider": "crm", "realm": "1", "id": "o"}], a):  # a placeholder, then a person of A
        assert client.post(f"{base}/people", json={"people": {"organization_id": org}}).status_code == 201
    link = {"entity_type": "organizations", "internal_id": a, "provider": "crm", "realm": "2", "external_id": "k"}
    made = client.post(f"{base}/key_links", json=link).json()["key_links"]
    connect = {"provider": "erp", "realm": "2", "id": "c", "field_values": [{"field": "notes", "value": "n"}]}
    assert client.post(f"{base}/organizations/{a}/connect", json=connect).status_code == 204
    merge = client.post(f"{base}/organizations/{a}/merge", json={"records": [b]}).json()["merge"]["id"]
    assert client.post(f"{base}/organizations/{a}/unmerge", json={"merge_id": merge}).status_code == 200
    assert client.delete(f"{base}/key_links/{made['id']}").status_code == 204
    recorded = {key for change in client.get(f"{base}/changes").json()["changes"] for key in change["details"]}
    section = README.split("## Change feed", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r'[`"](\w+)(?:`|"?:)', section))  # `name`, `name: …` or "name": …
    kinds = {"placeholder", "connected", "fields", "merged", "merge_id", "key_link", "external_id", "references"}
    assert recorded == kinds
    assert recorded <= named, f"the Change feed section does not name {sorted(recorded - named)}"


def test_the_line_hub_import_reads_is_the_one_the_readme_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README said "one record body per line, as POSTed", and a line as POSTed (`{"people": {...}}`) was refused
    as an unknown field `people`: a line is a record as a batch item holds it."""
    said = re.search(r"`hub import` reads JSON lines.*?\(`(\{.*?\})`, not\s+`(\{.*?\})`", README, re.S)
    assert said is not None
    record, wrapped = said.group(1), said.group(2).replace("…", json.dumps(json.loads(said.group(1))))
    settings = Settings(store=f"sqlite:///{tmp_path / 'hub.db'}")
    for line, status in ((record, 0), (wrapped, 1)):
        (tmp_path / "people.jsonl").write_text(line + "\n")
        assert import_file(settings, str(tmp_path / "people.jsonl"), "cld-1234", "people", quiet=True) == status
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out == [
        {"created": 1, "updated": 0, "unchanged": 0, "failed": 0},
        {"created": 0, "updated": 0, "unchanged": 0, "failed": 1},
    ]


def test_the_examples_show_hub_ids_and_a_channel_as_the_hub_makes_them() -> None:
    """The examples' hub ids were version 4 uuids where the README says they are version 7, the same organization
    had two hub ids (the path of a PUT and its answer), and group cld-1234 two channels."""
    ids = re.findall(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", README)
    assert ids and all(uuid.UUID(i).version == 7 for i in ids), [i for i in ids if uuid.UUID(i).version != 7]
    assert len(set(re.findall(r"\borg-[0-9a-z]+\b", README))) == 1
    put = _example_after("### Update: `PUT /api/v2/{group_id}/{collection}/{id}`")
    path_id = re.search(r"organizations/([0-9a-f-]{36})", put)
    answer = README.split(put, 1)[1].split("```\n")[2]  # the block after the request's
    assert path_id is not None and f'"provider":"connec","id":"{path_id.group(1)}"' in answer


def test_the_errors_section_names_a_connects_fields_as_it_answers(client: TestClient) -> None:
    """The Errors section named `field_values.0.field` alone, while a refused value is named by its field's name."""
    said = README.split("A `field` is the member's path in the body", 1)[1].split("\n\n", 1)[0]
    named = re.findall(r"`(field_values\.[\w.]+)`", said)
    org = client.post("/api/v2/cld-1/organizations", json={"organizations": {"name": "A"}}).json()["organizations"]
    answered = []
    for entry in ({"field": "colour", "value": 1}, {"field": "annual_revenue", "value": "lots"}):
        body = {"provider": "erp", "realm": "1", "id": "e", "field_values": [entry]}
        answer = client.post(f"/api/v2/cld-1/organizations/{org['id']}/connect", json=body).json()
        answered += [e["field"] for e in answer["errors"]]
    assert named == answered


def test_the_settings_from_the_environment_are_the_ones_the_readme_says() -> None:
    """ "each setting can also come from the environment", beside `--host` and `--port`, read as HUB_HOST and
    HUB_PORT, which the hub does not read: the section says so, and every variable it lists is a setting."""
    section = README.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    assert "`HUB_PORT` is not read" in section
    names = {f"HUB_{field.name.upper()}" for field in fields(Settings)}
    assert "HUB_PORT" not in names and "HUB_HOST" not in names
    assert set(re.findall(r"^\| `(HUB_\w+)` \|", section, re.M)) <= names


def test_the_readme_says_where_the_hub_command_is() -> None:
    """The sections use `hub connect`, `hub keys create`… and `./scripts/serve` puts no `hub` on the PATH: a first
    reader typing them got "command not found". The scripts install it as .venv/bin/hub (a console script)."""
    opening = README.split("\n## ", 1)[0]
    assert "`.venv/bin/hub`" in opening
    assert 'hub = "hub.cli:main"' in (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert ".venv/bin/hub serve" in (Path(__file__).parent.parent / "scripts" / "serve").read_text()


def _indexes_in_the_table() -> set[tuple[str, tuple[str, ...]]]:
    """The MongoDB section's index table as (collection, keys): `a, b, c` / `d` is `a, b, c` and `a, b, d`."""
    section = README.split("\n## MongoDB\n", 1)[1].split("\n## ", 1)[0]
    table = section.split("| index | why |", 1)[1].split("\n\n", 1)[0]
    found = set()
    for collection, first, others in re.findall(r"^\| `(\w+)`: `([^`]*)`((?: / `[^`]*`)*)", table, re.M):
        keys = first.split(", ")
        found.add((collection, tuple(keys)))
        for other in re.findall(r"`([^`]*)`", others):
            tail = other.split(", ")
            found.add((collection, tuple(keys[: -len(tail)] + tail)))
    return found


def test_the_mongodb_section_lists_every_index_the_store_makes() -> None:
    """The table left out the unique `first_admin` index of `api_keys`, which lets one first admin key in when hubs
    start at once on a fresh store."""
    made = set()
    for collection, indexes in MONGO_INDEXES.items():
        for name, (keys, _) in indexes.items():
            shown = [f"{k} desc" if way == -1 else k for k, way in keys]
            if name.startswith("ref__"):
                shown = [re.sub(r"^fields\..*", "fields.<reference>", k) for k in shown]
            made.add((collection, tuple(shown)))
    assert made <= _indexes_in_the_table(), sorted(made - _indexes_in_the_table())


def _commands(command: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, list[str]]]:
    """Each command of the command line (`hub keys create`) with its options."""
    subparsers = [action for action in command._actions if isinstance(action, argparse._SubParsersAction)]
    if not subparsers:
        options = [option for action in command._actions for option in action.option_strings]
        yield name, [option for option in options if option not in ("-h", "--help")]
    for sub in subparsers:
        for word, child in sub.choices.items():
            yield from _commands(child, f"{name} {word}")


def test_the_command_line_section_names_every_command_and_option() -> None:
    """`hub import` and `hub export` took a `--quiet` the README never named."""
    section = README.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    for command, options in _commands(parser(), "hub"):
        assert command in section, f"{command} is not in the Command line section"
        for option in options:
            assert option in section, f"{command} {option} is not in the Command line section"


def _refuses_zero(name: str) -> bool:
    """Whether the setting must be at least 1 (not only at least another setting, as `max_top` is `default_top`)."""
    try:
        Settings(**{name: 0})  # type: ignore[arg-type]
    except BadSetting as refused:
        return str(refused).startswith(f"{name} must be at least")
    return False


def test_the_settings_said_to_be_at_least_one_are_those_the_hub_refuses_below_one() -> None:
    """A bound given to a setting must be named where the README lists the bounds, or an operator learns of it only
    from the refusal; the other whole-number settings take 0 (`key_cache_seconds` 0 reads the store every time)."""
    start = "`prune_interval_seconds`, `lease_seconds`"
    said = start + README.split(start, 1)[1].split("; `lease_seconds` is no", 1)[0]
    named = {name.lower() for name in re.findall(r"`(?:HUB_)?(\w+)`", said)} - {"webhook_poll_seconds"}
    whole = [f.name for f in fields(Settings) if f.type == "int"]
    assert named == {name for name in whole if _refuses_zero(name)}


def test_the_examples_marked_json_are_json() -> None:
    """The lease example, marked `json`, held `{"…hub's own…"}`, an object with a key and no value: a reader
    pasting it into a test or a mock server got a parse error."""
    blocks = re.findall(r"```json\n(.*?)```", README, re.S)
    assert blocks
    for block in blocks:
        json.loads(block)


def test_the_integration_table_has_a_row_for_each_field_with_its_bounds_and_default() -> None:
    """Each field of a definition has its row in the Integrations table, and a whole number's row its bounds and
    default as the model holds them, so a bound changed in the model is changed where an integrator reads it."""
    table = README.split("| field | allowed (default) | effect |", 1)[1].split("\n\n", 1)[0]
    rows = {name: row for row in table.splitlines()[2:] for name in re.findall(r"`(\w+)`", row.split(" | ")[0])}
    for name, schema in Definition.model_json_schema()["properties"].items():
        assert name in rows, f"{name} has no row in the Integrations table"
        if "minimum" in schema and "maximum" in schema:  # written with an en dash, as the table writes ranges
            assert f"{schema['minimum']}\u2013{schema['maximum']} ({schema['default']})" in rows[name], rows[name]


def test_the_tests_section_names_every_end_to_end_test() -> None:
    """The Tests section says what each `tests/e2e/` file runs against a real process; one added without its line
    leaves an operator not knowing what a slow or flaky run was checking."""
    section = README.split("\n## Tests\n", 1)[1].split("\n## ", 1)[0]
    e2e = sorted(path.name for path in (Path(__file__).parent / "e2e").glob("test_*.py"))
    assert e2e and [name for name in e2e if f"`{name}`" not in section] == []


def test_the_layout_names_every_part_of_the_package() -> None:
    """The Layout left out `config.py`, `errors.py` and `progress.py`: a newcomer looking for where a setting or a
    problem+json is made found no entry."""
    layout = README.split("\n## Layout\n", 1)[1]
    package = Path(__file__).parent.parent / "hub"
    parts = [f"{path.name}/" if path.is_dir() else path.name for path in package.iterdir()]
    named = [part for part in parts if part.endswith((".py", "/")) and not part.startswith("__")]
    assert named and [part for part in named if part not in layout] == []
