"""`hub import` stores exactly what posting the same bodies through the API stores, row by row in every table."""

from __future__ import annotations

import codecs
import io
import os
import re
import sqlite3
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.cli import main
from hub.config import Settings
from hub.model.ids import MAX_RECORD_IDS
from hub.service import bulk
from tests.conftest import admin_client

GROUP = "cld-1"
PEOPLE = f"/api/v2/{GROUP}/people"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ACTOR = re.compile(r"^admin \((key hk_[0-9a-f]{16}|hub import)\)$")


def ext(value: str, provider: str = "app") -> dict[str, str]:
    return {"realm": "r1", "provider": provider, "id": value}


PRELOADED: list[Any] = [
    {"id": [ext("p5")], "first_name": "already here", "last_name": "Five"},
    {"id": [ext("p41")]},
    {"id": [ext("e9", "erp")], "first_name": "kept by the hub"},
    {"id": [ext("m1"), ext("x1", "xapp")]},
    {"id": [ext("k2", "kapp"), ext("x2", "xapp")]},
]
ITEMS: list[Any] = [
    *({"id": [ext(f"p{i}")], "first_name": f"P{i}", "email": {"address": f"p{i}@example.com"}} for i in range(12)),
    {"id": [ext("p3")], "last_name": "again"},
    {"id": [ext("p30"), ext("o30", "other")], "status": "INACTIVE", "birth_date": "1990-01-02"},
    {"unknown": True},
    {"id": [ext("p31")], "organization_id": [ext("org1")]},
    {"id": [ext("p32"), ext("p33")]},
    {"id": [ext("p40")], "first_name": "late"},
    {"id": [ext("p40"), ext("o40", "other")], "last_name": "merged later"},
    {"id": [ext("t1", "third")], "first_name": "T"},
    {"id": [ext("t1", "third"), ext("p41")], "job_title": "merges t1 into the preloaded p41"},
    {"id": [ext("e9", "erp")], "first_name": "not synced into the hub", "job_title": "synced"},
    {"id": [ext("p50")], "organization_id": [ext("org1")], "status": "ARCHIVED"},
    {"id": "not an id array"},
    {"id": [ext("o2", "other")], "first_name": "O2"},
    {"id": [ext("p2"), ext("o2", "other")], "last_name": "merges two records of this batch"},
    {"id": [ext("m1"), ext("k2", "kapp")], "organization_id": [ext("org9")]},  # 409 after making a placeholder
]


def prepare(stack: ExitStack, path: Path) -> TestClient:
    """A store holding the same preloaded records, an outbound integration and a connection with field directions."""
    client = stack.enter_context(admin_client(create_app(Settings(store=f"sqlite:///{path}"))))
    for item in PRELOADED:
        assert client.post(PEOPLE, json={"people": item}).status_code == 201
    integration = {"name": "out", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "1"}
    integration |= {"include_update": True, "filter": "status eq 'ACTIVE'"}
    assert client.post(f"/api/v2/{GROUP}/integrations", json=integration).status_code == 201
    fields = [{"field": "first_name", "sync_to_hub": False, "sync_to_app": True}]
    connect = {"provider": "erp", "realm": "r1", "id": "e9", "field_values": fields}
    answer = client.post(f"{PEOPLE}/e9/connect", params={"opts[provider]": "erp", "opts[realm]": "r1"}, json=connect)
    assert answer.status_code == 204, answer.text
    return client


def dump(path: Path) -> dict[str, list[Any]]:
    """Every row of the tables a write touches, with generated values named by what they stand for.

    Hub ids become (collection, code number), merge ids their order, times and the actor a
    placeholder: those are the only things two stores given the same writes may differ in.
    """
    conn = sqlite3.connect(path)
    names: dict[Any, Any] = {h: (c, s) for h, c, s in conn.execute("SELECT hub_id, collection, seq FROM records")}
    names |= {m: f"merge {n}" for n, m in conn.execute("SELECT seq, merge_id FROM merges")}
    names |= {channel: "channel" for (channel,) in conn.execute("SELECT channel_id FROM groups")}

    def plain(value: Any) -> Any:
        if isinstance(value, str) and value[:1] in "[{":
            try:
                return plain(orjson.loads(value))
            except orjson.JSONDecodeError:
                return value
        if isinstance(value, str):
            return "<time>" if TIME.match(value) else "<actor>" if ACTOR.match(value) else names.get(value, value)
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    tables = ["records", "external_ids", "counters", "changes", "outbound_items", "merges", "merge_members"]
    tables.append("field_sync")
    out = {t: sorted(map(repr, plain(conn.execute(f"SELECT * FROM {t}").fetchall()))) for t in tables}
    conn.close()
    return out


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / f"{name}.db" for name in ("batch", "one_by_one", "import")}


def test_import_stores_what_the_api_stores(stores: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    with ExitStack() as stack:
        clients = {name: prepare(stack, path) for name, path in stores.items()}
        batch = clients["batch"].post(PEOPLE, json={"people": ITEMS})
        assert batch.status_code == 200
        statuses = [r["status"] for r in batch.json()["results"]]
        for item, status in zip(ITEMS, statuses, strict=True):
            assert clients["one_by_one"].post(PEOPLE, json={"people": item}).status_code == status
    assert statuses.count(409) == 2 and statuses.count(422) == 2

    source = tmp_path / "people.jsonl"
    # a blank line after the first: refused items are named by their line
    lines = [orjson.dumps(item) + b"\n" for item in ITEMS]
    source.write_bytes(b"".join([lines[0], b"\n", *lines[1:], b"not json\n"]))
    args = ["import", "--quiet", "--group", GROUP, "--store", f"sqlite:///{stores['import']}", str(source)]
    assert main(args) == 1  # some items are refused
    out, err = capsys.readouterr()
    refused = len(ITEMS) - statuses.count(200) - statuses.count(201)
    created = statuses.count(201)
    summary = {"created": created, "updated": statuses.count(200), "unchanged": 0, "failed": refused + 1}
    assert orjson.loads(out) == summary
    assert "line 16: 422 unknown field(s): unknown" in err
    assert "line 18: 409 " in err
    assert f"line {len(ITEMS) + 2}: 400 not JSON" in err

    expected = dump(stores["batch"])
    assert "org9" not in repr(expected)  # the refused item's placeholder is undone with it
    assert len(expected["merges"]) == 2 and expected["outbound_items"] and expected["field_sync"]
    assert dump(stores["one_by_one"]) == expected
    assert dump(stores["import"]) == expected


def test_import_in_small_chunks_and_from_standard_input(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    """`HUB_MAX_BATCH` items at a time, each chunk through `batch.upsert_many`: the chunks store what one batch POST
    does, and each refused item is named by its own line, not by its place in its chunk."""
    by_api, by_import = tmp_path / "api.db", tmp_path / "import.db"
    with ExitStack() as stack:
        batch = prepare(stack, by_api).post(PEOPLE, json={"people": ITEMS})
        prepare(stack, by_import)
    refused = [2 * n + 1 for n, result in enumerate(batch.json()["results"]) if result["status"] >= 400]
    lines = b"".join(orjson.dumps(item) + b"\n\n" for item in ITEMS)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines)))
    monkeypatch.setenv("HUB_MAX_BATCH", "4")
    chunks: list[int] = []
    upsert_many = bulk.upsert_many

    async def counted(store: Any, settings: Any, group_id: str, collection: Any, writes: Any, actor: str) -> Any:
        chunks.append(len(writes))
        return await upsert_many(store, settings, group_id, collection, writes, actor)

    monkeypatch.setattr(bulk, "upsert_many", counted)
    assert main(["import", "--group", GROUP, "--store", f"sqlite:///{by_import}", "-"]) == 1
    _, err = capsys.readouterr()
    assert "importing people" in err
    assert chunks == [4] * (len(ITEMS) // 4) + [len(ITEMS) % 4]
    assert [int(line.split(":")[0].split()[1]) for line in err.splitlines() if line.startswith("line ")] == refused
    assert dump(by_import) == dump(by_api)


def test_a_malformed_group_is_refused(tmp_path: Path, capsys: Any) -> None:
    source = tmp_path / "people.jsonl"
    source.write_text("{}\n")
    assert main(["import", "--group", "no/such", "--store", f"sqlite:///{tmp_path / 'x.db'}", str(source)]) == 1
    assert "malformed group id" in capsys.readouterr().err


def test_a_file_named_that_is_a_pipe_is_imported_whole(tmp_path: Path, capsys: Any) -> None:
    """`hub import /dev/stdin` or `<(zcat people.jsonl.gz)`: counting its lines for the progress line read the
    pipe to its end, so the import found nothing in it, said it created nothing and exited 0."""
    read, write = os.pipe()
    os.write(write, b"".join(orjson.dumps({"id": [ext(f"p{n}")]}) + b"\n" for n in range(3)))
    os.close(write)
    try:
        args = ["import", "--group", GROUP, "--store", f"sqlite:///{tmp_path / 'hub.db'}", f"/dev/fd/{read}"]
        assert main(args) == 0
    finally:
        os.close(read)
    assert orjson.loads(capsys.readouterr().out) == {"created": 3, "updated": 0, "unchanged": 0, "failed": 0}


def test_the_progress_counts_a_last_line_without_its_newline(tmp_path: Path, capsys: Any) -> None:
    """Only newlines were counted: two records, the last without one, ended on `1/1`, one record alone on no total."""
    source = tmp_path / "people.jsonl"
    source.write_bytes(b'{"first_name": "A"}\n{"first_name": "B"}')
    assert main(["import", "--group", GROUP, "--store", f"sqlite:///{tmp_path / 'hub.db'}", str(source)]) == 0
    out, err = capsys.readouterr()
    assert orjson.loads(out)["created"] == 2 and " 2/2 " in err.splitlines()[-1], err


def test_a_file_opening_with_a_byte_order_mark_is_imported_whole(tmp_path: Path, capsys: Any) -> None:
    """Windows tools open a UTF-8 file with a byte order mark: its first line was refused as "not JSON"."""
    source = tmp_path / "people.jsonl"
    source.write_bytes(codecs.BOM_UTF8 + b'{"first_name": "A"}\n{"first_name": "\xef\xbb\xbfB"}\n')
    assert (
        main(["import", "--group", GROUP, "--store", f"sqlite:///{tmp_path / 'hub.db'}", "--quiet", str(source)]) == 0
    )
    assert orjson.loads(capsys.readouterr().out)["created"] == 2


def test_a_line_that_is_no_utf8_names_its_byte(tmp_path: Path, capsys: Any) -> None:
    """A Latin-1 `é` was refused in the parser's words, "str is not valid UTF-8: surrogates not allowed", at column
    1 whatever its place: a Python type and a surrogate the line did not hold."""
    source = tmp_path / "people.jsonl"
    source.write_bytes('{"first_name": "A"}\n{"first_name": "Ren\u00e9"}\n'.encode("latin-1"))
    assert (
        main(["import", "--group", GROUP, "--store", f"sqlite:///{tmp_path / 'hub.db'}", "--quiet", str(source)]) == 1
    )
    assert "line 2: 400 not JSON: byte 0xe9 at position 19 is not UTF-8, which JSON is" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("encoding", "mark", "named"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16"),
        ("utf-32-le", codecs.BOM_UTF32_LE, "UTF-32"),  # its mark opens with UTF-16 LE's
        ("utf-32-be", codecs.BOM_UTF32_BE, "UTF-32"),
    ],
)
def test_a_utf16_or_utf32_file_is_refused_whole_saying_so(
    tmp_path: Path, capsys: Any, encoding: str, mark: bytes, named: str
) -> None:
    """Notepad's "Unicode": each line was refused alone, for `surrogates not allowed` or as not JSON."""
    source = tmp_path / "people.jsonl"
    source.write_bytes(mark + '{"first_name": "A"}\n{"first_name": "B"}\n'.encode(encoding))
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    assert main(["import", "--group", GROUP, "--store", url, "--quiet", str(source)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [
        f"hub: the file is {named} (it opens with its byte order mark): hub import reads UTF-8"
    ]
    assert main(["export", "--group", GROUP, "--store", url, "-"]) == 1  # no group: nothing was written


def test_an_import_that_meets_a_locked_file_says_so_and_runs_again_whole(
    tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    """Another process holding the SQLite file's write lock past the busy timeout (a `hub index add` on a big store)
    stopped the import with sqlite3's traceback, `database is locked`."""
    db = tmp_path / "hub.db"
    holder = sqlite3.connect(db, isolation_level=None)

    class LockedOnceOpen(io.BytesIO):
        """The file's lines, read once the import has opened the store: the lock is taken then."""

        def __iter__(self) -> Any:
            holder.execute("BEGIN IMMEDIATE")
            return super().__iter__()

    lines = b"".join(orjson.dumps({"id": [ext(f"p{n}")]}) + b"\n" for n in range(3))
    monkeypatch.setattr("hub.store.sqlite_conn.BUSY_MS", 100)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(LockedOnceOpen(lines)))
    args = ["import", "--quiet", "--group", GROUP, "--store", f"sqlite:///{db}", "-"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "hub: the SQLite file is busy" in err and "Traceback" not in err, err
    holder.execute("ROLLBACK")
    holder.close()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines)))
    assert main(args) == 0
    assert orjson.loads(capsys.readouterr().out) == {"created": 3, "updated": 0, "unchanged": 0, "failed": 0}


def test_a_refused_item_is_said_on_one_line_whatever_its_file_holds(tmp_path: Path, capsys: Any) -> None:
    """The name of an unknown field was printed as the file spelled it: a newline in it split the problem's line,
    an escape sequence in it reached the terminal."""
    source = tmp_path / "people.jsonl"
    source.write_bytes(orjson.dumps({"a\nb\x1b[31m": 1}) + b"\n")
    args = ["import", "--quiet", "--group", GROUP, "--store", f"sqlite:///{tmp_path / 'hub.db'}", str(source)]
    assert main(args) == 1
    assert capsys.readouterr().err == "line 1: 422 unknown field(s): a\\nb\\x1b[31m\n"


def test_a_line_holds_what_an_export_writes_and_no_record_more_than_it_may_hold(tmp_path: Path, capsys: Any) -> None:
    """An import takes id arrays as long as an export writes (a record's every id and its hub id), not a request's
    100; more app ids than a record may hold are refused, on the batch path of plain items too."""
    many = [ext("x", f"app{n}") for n in range(MAX_RECORD_IDS + 2)]
    fresh = [ext("y", f"app{n}") for n in range(MAX_RECORD_IDS + 1)]  # a create, written with the next line
    source = tmp_path / "people.jsonl"
    lines = [{"id": fresh}, {"id": [ext("z")]}, {"id": many[:MAX_RECORD_IDS]}, {"id": many[MAX_RECORD_IDS - 1 : -1]}]
    lines.append({"id": many})
    source.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    args = ["import", "--quiet", "--group", GROUP, "--store", f"sqlite:///{tmp_path / 'hub.db'}", str(source)]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert orjson.loads(out) == {"created": 2, "updated": 0, "unchanged": 0, "failed": 3}
    over = f"409 one record would hold {MAX_RECORD_IDS + 1} ids, more than the {MAX_RECORD_IDS} a record may hold"
    assert err.splitlines() == [
        f"line 1: {over}",
        f"line 4: {over}",
        f"line 5: 422 id: at most {MAX_RECORD_IDS + 1} ids",
    ]


def test_a_line_cut_short_is_placed_within_its_own_line(tmp_path: Path, capsys: Any) -> None:
    """Parsed with its newline, a line cut short was said to end at `line 2 column 1` of itself: a line the file's
    line 3 does not have, read as the file's line 2."""
    source = tmp_path / "people.jsonl"
    source.write_bytes(b'{"first_name": "Ann"}\r\n\n{"first_name": \n')
    args = ["import", "--quiet", "--group", GROUP, "--store", f"sqlite:///{tmp_path / 'hub.db'}", str(source)]
    assert main(args) == 1
    assert capsys.readouterr().err == "line 3: 400 not JSON: unexpected end of data: line 1 column 16 (char 15)\n"


def test_an_interrupted_import_says_so_without_a_traceback(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    """Ctrl-C printed asyncio's KeyboardInterrupt traceback."""

    async def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("hub.service.bulk.import_records", interrupted)
    source = tmp_path / "people.jsonl"
    source.write_text("{}\n")
    args = ["import", "--quiet", "--group", GROUP, "--store", f"sqlite:///{tmp_path / 'hub.db'}", str(source)]
    assert main(args) == 130
    assert capsys.readouterr().err.endswith(
        "hub: interrupted; what was written before stays (an import can be run again)\n"
    )
