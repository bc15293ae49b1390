"""`hub export` writes each live record once, as the API lists it with id arrays; its file imports back as updates."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.app import create_app
from hub.cli import main
from hub.config import Settings
from hub.files import PART_IDLE
from hub.model.collections import COLLECTIONS
from hub.model.ids import MAX_RECORD_IDS
from hub.model.payload import parse_write
from hub.service import bulk
from hub.service.batch import upsert_many
from hub.service.upsert import Outcome
from hub.store.base import Store
from hub.store.sqlite import SQLiteStore
from tests.conftest import admin_client, mongomock_store

GROUP = "cld-1"
PEOPLE = f"/api/v2/{GROUP}/people"


def ext(value: str, provider: str = "app") -> dict[str, str]:
    return {"realm": "r1", "provider": provider, "id": value}


def fill(url: str) -> None:
    """Nine live people (one archived, one with an organization, a placeholder, one merged from two), a tombstone,
    and an organization of its own."""
    with admin_client(create_app(Settings(store=url))) as client:
        people: list[Any] = [{"id": [ext(f"p{i}")], "first_name": f"P{i}"} for i in range(7)]
        people += [
            {"id": [ext("p7")], "status": "ARCHIVED"},
            {"id": [ext("p8")], "organization_id": [ext("o1")]},
            {"id": [ext("x1", "other")]},
            {"id": [ext("p3"), ext("x1", "other")], "last_name": "merged"},
        ]
        answer = client.post(PEOPLE, json={"people": people})
        assert [r["status"] for r in answer.json()["results"]] == [201] * 10 + [200]
        organization = {"organizations": {"id": [ext("o2")], "name": "Real"}}
        assert client.post(f"/api/v2/{GROUP}/organizations", json=organization).status_code == 201


def listed(url: str) -> list[Any]:
    """The live records as the API lists them with id arrays, archived ones too, in code order."""
    with admin_client(create_app(Settings(store=url))) as client:
        query = {"$filter": "status ne null", "$orderby": "code", "$top": 1000}
        answer = client.get(PEOPLE, params=query, headers={"CONNEC-EXTERNAL-IDS": "true"})
        assert answer.status_code == 200
        return list(answer.json()["people"])


def test_an_export_holds_each_live_record_once_as_listed(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setattr(bulk, "EXPORT_PAGE", 3)  # nine live people: three full pages, then an empty read
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    out = tmp_path / "people.jsonl"
    assert main(["export", "--group", GROUP, "--store", url, str(out)]) == 0
    exported = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert exported == listed(url)
    assert len(exported) == 9 and len({r["code"] for r in exported}) == 9
    assert {r["status"] for r in exported} == {"ACTIVE", "ARCHIVED"}
    assert "exporting people" in capsys.readouterr().err

    organizations = tmp_path / "organizations.jsonl"
    assert main(["export", "--group", GROUP, "--collection", "organizations", "--store", url, str(organizations)]) == 0
    assert [orjson.loads(line)["id"][0] for line in organizations.read_bytes().splitlines()] == [ext("o2")]


def test_a_placeholder_is_not_exported_and_stays_one_through_a_round_trip(tmp_path: Path, capsys: Any) -> None:
    """Its line (ids alone) imported back filled it in: a create of an empty organization, sent on as one."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    out = tmp_path / "organizations.jsonl"
    for command in ("export", "import"):
        assert (
            main([command, "--group", GROUP, "--collection", "organizations", "--store", url, "--quiet", str(out)]) == 0
        )
    assert orjson.loads(capsys.readouterr().out) == {"created": 0, "updated": 0, "unchanged": 1, "failed": 0}
    with admin_client(create_app(Settings(store=url))) as client:
        changes = client.get(f"/api/v2/{GROUP}/changes", params={"limit": 1000}).json()["changes"]
    # the record imported back holds what it held: nothing recorded, nothing sent on
    assert [c["kind"] for c in changes if c["collection"] == "organizations"] == ["create", "create"]


@pytest.mark.parametrize("page", [1, bulk.EXPORT_PAGE])
def test_the_progress_of_an_export_ends_at_the_lines_written(
    tmp_path: Path, capsys: Any, monkeypatch: Any, page: int
) -> None:
    """The total counted the placeholders too, which are not written: an export of every organization ended at
    `50% 1/2`, or, its first page all placeholders, with no total at all."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    monkeypatch.setattr(bulk, "EXPORT_PAGE", page)
    capsys.readouterr()
    out = tmp_path / "organizations.jsonl"
    assert main(["export", "--group", GROUP, "--collection", "organizations", "--store", url, str(out)]) == 0
    assert len(out.read_bytes().splitlines()) == 1
    assert " 100% 1/1 " in capsys.readouterr().err.splitlines()[-1]


def test_an_export_imports_back_into_its_group_changing_nothing(tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    before = listed(url)
    out = tmp_path / "people.jsonl"
    assert main(["export", "--group", GROUP, "--store", url, "--quiet", str(out)]) == 0
    capsys.readouterr()
    assert main(["import", "--group", GROUP, "--store", url, "--quiet", str(out)]) == 0
    assert orjson.loads(capsys.readouterr().out) == {"created": 0, "updated": 0, "unchanged": 9, "failed": 0}
    assert listed(url) == before  # not a time moved


def test_a_record_holding_every_id_it_may_imports_back(tmp_path: Path, capsys: Any) -> None:
    """A record holding as many ids as it may, and a reference showing all of its record's, are written with its hub
    id too: their lines were refused (`422`, at most 100 ids), so an export could not be imported back whole."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    many = [ext("o1", f"app{n}") for n in range(MAX_RECORD_IDS)]  # one id per app
    with admin_client(create_app(Settings(store=url))) as client:
        body = {"organizations": {"id": many, "name": "Big"}}
        assert client.post(f"/api/v2/{GROUP}/organizations", json=body).status_code == 201
        body = {"people": {"id": [ext("p1")], "organization_id": [many[0]]}}
        assert client.post(PEOPLE, json=body).status_code == 201
    for collection, field in (("organizations", "id"), ("people", "organization_id")):
        out = tmp_path / f"{collection}.jsonl"
        command = ["--group", GROUP, "--collection", collection, "--store", url, "--quiet", str(out)]
        assert main(["export", *command]) == 0
        assert len(orjson.loads(out.read_bytes())[field]) == len(many) + 1  # the hub id last
        capsys.readouterr()
        assert main(["import", *command]) == 0
        assert orjson.loads(capsys.readouterr().out) == {"created": 0, "updated": 0, "unchanged": 1, "failed": 0}


def test_exporting_a_malformed_group_says_so(tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    assert main(["export", "--group", "no group", "--store", url, str(tmp_path / "out.jsonl")]) == 1
    assert "malformed group id 'no group'" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


def test_exporting_a_group_that_does_not_exist_fails(tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    assert main(["export", "--group", "nobody", "--store", url, str(tmp_path / "out.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "no group nobody" in err and "exporting" not in err  # no progress of an export that never began
    assert not (tmp_path / "out.jsonl").exists()  # no file that could pass for an export
    kept = tmp_path / "kept.jsonl"
    kept.write_text("{}\n")
    assert main(["export", "--group", "nobody", "--store", url, str(kept)]) == 1
    assert kept.read_text() == "{}\n" and sorted(p.name for p in tmp_path.iterdir()) == ["hub.db", "kept.jsonl"]


async def test_an_export_does_not_move_a_group_to_another_store(tmp_path: Path, store: Store) -> None:
    """README: the file is no copy of the store; a fresh one (SQLite or MongoDB) refuses each line, by its hub id,
    and holds nothing after."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    await asyncio.to_thread(fill, url)
    out = tmp_path / "people.jsonl"
    assert await asyncio.to_thread(main, ["export", "--group", GROUP, "--store", url, "--quiet", str(out)]) == 0
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    report = await bulk.import_records(store, Settings(), GROUP, COLLECTIONS["people"], lines)
    assert (report.created, report.updated, report.unchanged, len(report.errors)) == (0, 0, 0, len(lines))
    assert all("holds no record yet" in error.detail for _, error in report.errors)
    assert await store.group(GROUP) is None


def test_what_a_killed_export_left_goes_with_the_next_one(tmp_path: Path) -> None:
    """An export killed mid-way leaves its `.part` file: each one stayed, as no later export had its pid."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    ended = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    killed = tmp_path / f".people.jsonl.{ended}.part"
    kept = [
        tmp_path / f".other.jsonl.{ended}.part",  # another file's
        tmp_path / f".people.jsonl.{os.getppid()}.part",  # its process runs: its export may be writing
        tmp_path / f".people.jsonl.{ended + 1}.part",  # written just now: by a run in another container, perhaps
    ]
    for left in (killed, *kept):
        left.write_bytes(b'{"half": ')
        if left != kept[-1]:
            os.utime(left, (time.time() - PART_IDLE - 1,) * 2)
    assert main(["export", "--group", GROUP, "--store", url, "--quiet", str(tmp_path / "people.jsonl")]) == 0
    assert sorted(p for p in tmp_path.iterdir() if p.name.endswith(".part")) == sorted(kept)
    assert len(listed(url)) == len((tmp_path / "people.jsonl").read_bytes().splitlines())


def test_only_a_file_a_killed_export_could_have_left_goes(tmp_path: Path) -> None:
    """A name with a dead pid that no export writes (a pid with a leading zero), and a link, a pipe or a directory
    named like a part, are none of its leftovers: an export made none of them, and the first two were removed."""
    ended = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    (tmp_path / f".people.jsonl.0{ended}.part").write_bytes(b"mine")
    (tmp_path / f".people.jsonl.{ended}.part").symlink_to(tmp_path / "hub.db")
    os.mkfifo(tmp_path / f".people.jsonl.{ended + 1}.part")
    (tmp_path / f".people.jsonl.{ended + 2}.part").mkdir()
    kept = sorted(p.name for p in tmp_path.iterdir())
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    assert main(["export", "--group", GROUP, "--store", url, "--quiet", str(tmp_path / "people.jsonl")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == kept


@pytest.mark.parametrize("name", ["hub.db", "hub.db-wal", "link.db"])
def test_an_export_onto_the_store_s_own_file_is_refused(tmp_path: Path, capsys: Any, name: str) -> None:
    """`hub export --group cld-1 hub.db` (the default store) renamed the export onto the database: every record,
    key and link was lost, and the command said it had succeeded."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    (tmp_path / "link.db").symlink_to(tmp_path / "hub.db")
    before = listed(url)
    capsys.readouterr()
    assert main(["export", "--group", GROUP, "--store", url, "--quiet", str(tmp_path / name)]) == 1
    assert "the store's own file" in capsys.readouterr().err
    assert listed(url) == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["import", "--group", GROUP, "{missing}"], "No such file or directory"),
        (["export", "--group", GROUP, "{dir}"], "a directory"),
        (["export", "--group", GROUP, "{missing_dir}/out.jsonl"], "No such file or directory"),
        (["import", "--group", GROUP, "--store", "sqlite:///{missing_dir}/hub.db", "{file}"], "cannot open the store"),
    ],
)
def test_a_file_or_store_that_cannot_be_used_is_said_without_a_traceback(
    tmp_path: Path, capsys: Any, command: list[str], says: str
) -> None:
    """Each of these printed a Python traceback; the README promises why, on stderr, and status 1."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    (tmp_path / "in.jsonl").write_text("{}\n")
    names = {"missing": tmp_path / "none.jsonl", "dir": tmp_path, "missing_dir": tmp_path / "nodir"}
    names["file"] = tmp_path / "in.jsonl"
    argv = [part.format(**names) for part in command]
    capsys.readouterr()
    assert main([*argv, "--quiet"] if "--store" in argv else [*argv, "--store", url, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err, err


@pytest.mark.parametrize("command", [["export", "--group", GROUP, "--quiet"], ["backup"]])
def test_a_file_that_cannot_be_made_is_named_as_given(tmp_path: Path, capsys: Any, command: list[str]) -> None:
    """The file is made under a name of its own first: a folder not there was said of that name, which the command
    line never gave (`No such file or directory: nodir/.out.jsonl.4242.part`)."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    target = tmp_path / "nodir" / "out.jsonl"
    capsys.readouterr()
    assert main([*command, "--store", url, str(target)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"hub: No such file or directory: {target}"


@pytest.fixture(params=["sqlite", "mongomock"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    opened: Store = SQLiteStore(str(tmp_path / "hub.db")) if request.param == "sqlite" else mongomock_store()
    await opened.open()
    yield opened
    await opened.close()


async def test_export_pages_follow_the_code_on_every_store(store: Store, monkeypatch: Any) -> None:
    monkeypatch.setattr(bulk, "EXPORT_PAGE", 2)
    people = COLLECTIONS["people"]
    bodies = [{"id": [ext(f"p{i}")]} for i in range(4)] + [
        {"id": [ext("x", "other")]},
        {"id": [ext("p1"), ext("x", "other")]},
    ]
    done = await upsert_many(store, Settings(), GROUP, people, [parse_write(people, body) for body in bodies])
    assert isinstance(done[-1], Outcome) and done[-1].merged
    pages = [page async for page in bulk.export_records(store, GROUP, people)]
    assert [[r.seq for r in page.records] for page in pages] == [[1, 2], [3, 4]]  # 5 merged into 2
    assert [page.total for page in pages] == [4, 4]


async def test_an_export_racing_merges_shows_each_record_once_and_skips_none(tmp_path: Path, monkeypatch: Any) -> None:
    """While the export pages, writers merge away records it has passed, create and update: every record
    that stays live shows, each once. (Paging by offset would skip one record after each such merge.)"""
    monkeypatch.setattr(bulk, "EXPORT_PAGE", 4)
    store = SQLiteStore(str(tmp_path / "hub.db"))
    await store.open()
    people = COLLECTIONS["people"]

    async def write(*bodies: Any) -> list[Any]:
        return await upsert_many(store, Settings(), GROUP, people, [parse_write(people, body) for body in bodies])

    try:
        made = await write(
            *({"id": [ext(f"p{k}")]} for k in range(60)), *({"id": [ext(f"x{k}", "other")]} for k in range(60))
        )
        x_record = {outcome.record.seq: k for k, outcome in enumerate(made[60:])}
        exported: list[int] = []
        merged: set[int] = set()
        finished = asyncio.Event()

        async def export() -> None:
            async for page in bulk.export_records(store, GROUP, people):
                exported.extend(r.seq for r in page.records)
                await asyncio.sleep(0)
            finished.set()

        async def churn() -> None:
            while not finished.is_set():
                behind = [seq for seq in exported if seq in x_record and seq not in merged]
                if behind:  # merge a record the export has passed into an older one
                    k = x_record[behind[0]]
                    await write({"id": [ext(f"p{k}"), ext(f"x{k}", "other")]}, {"id": [ext(f"new{k}")]})
                    merged.add(behind[0])
                await asyncio.sleep(0)

        await asyncio.gather(export(), churn())
        assert merged  # the race happened
        assert len(exported) == len(set(exported)) and exported == sorted(exported)
        assert {o.record.seq for o in made} - merged <= set(exported)  # none of those still live skipped
    finally:
        await store.close()


def test_an_export_to_a_pipe_or_a_link_writes_through_it(tmp_path: Path, capsys: Any) -> None:
    """The file was renamed onto the name given: a FIFO (as `>(gzip > …)` names one) was replaced by a regular file
    its reader never saw, and a symbolic link (as `/dev/stdout` is) by a file of its own."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    fifo, link, target = tmp_path / "fifo", tmp_path / "link.jsonl", tmp_path / "target.jsonl"
    os.mkfifo(fifo)
    link.symlink_to(target)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # nine lines fit in the pipe: no thread needed
    try:
        assert main(["export", "--group", GROUP, "--store", url, "--quiet", str(fifo)]) == 0
        piped = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert fifo.is_fifo() and len(piped.splitlines()) == 9
    assert main(["export", "--group", GROUP, "--store", url, "--quiet", str(link)]) == 0
    assert link.is_symlink() and target.read_bytes() == piped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "hub.db", "link.jsonl", "target.jsonl"]


def test_an_export_whose_reader_stops_early_ends_quietly(tmp_path: Path) -> None:
    """`hub export - | head` ended in "hub: Broken pipe" on standard error, as if the export had failed."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    lines = tmp_path / "people.jsonl"
    lines.write_text("".join(f'{{"id": [{{"provider": "a", "realm": "r", "id": "p{n}"}}]}}\n' for n in range(3000)))
    assert main(["import", "--group", GROUP, "--store", url, "--quiet", str(lines)]) == 0
    export = [sys.executable, "-m", "hub.cli", "export", "--group", GROUP, "--store", url, "--quiet", "-"]
    with subprocess.Popen(export, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as running:
        assert running.stdout is not None and running.stderr is not None
        assert running.stdout.read(10)  # and no more: the reader goes
        running.stdout.close()
        assert running.stderr.read() == b"" and running.wait(30) == 141
