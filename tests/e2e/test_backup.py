"""`hub backup` copies the SQLite store, as one committed state, to a database the hub serves as it was."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hub.app import create_app
from hub.cli import main
from hub.config import Settings
from hub.files import PART_IDLE
from hub.store import sqlite_conn
from tests.conftest import admin_client
from tests.e2e.server import running_hub
from tests.e2e.test_export import GROUP, PEOPLE, fill, listed


def _history(url: str) -> tuple[Any, Any]:
    """The group's change feed and key links, which an export does not carry."""
    with admin_client(create_app(Settings(store=url))) as client:
        feed = client.get(f"/api/v2/{GROUP}/changes", params={"limit": 1000}).json()["changes"]
        links = client.get(f"/api/v2/{GROUP}/key_links", params={"$top": 1000}).json()["key_links"]
        return feed, links


def test_a_backup_is_the_store_as_it_was(tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    before = listed(url), _history(url)
    assert main(["backup", "--store", url, str(tmp_path / "copy.db")]) == 0
    assert "backed up to" in capsys.readouterr().out
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    assert (listed(copy), _history(copy)) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no part left behind


def test_a_backup_removes_the_part_and_journal_a_killed_one_left(tmp_path: Path) -> None:
    """A backup killed mid-way leaves its part and the rollback journal SQLite kept beside it; the part went with
    the next run, the journal stayed."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    ended = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    for left in (f".copy.db.{ended}.part", f".copy.db.{ended}.part-journal"):
        (tmp_path / left).write_bytes(b"half")
        os.utime(tmp_path / left, (time.time() - PART_IDLE - 1,) * 2)
    assert main(["backup", "--store", url, str(tmp_path / "copy.db")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_backup_taken_while_the_hub_writes_holds_whole_requests(tmp_path: Path) -> None:
    """Copying the files under a running hub copies a database file without its WAL (or half of one)."""
    with running_hub(tmp_path / "hub.db") as server:
        writing = threading.Event()
        written: list[int] = []

        answers: list[int] = []
        copied = threading.Event()

        def write() -> None:
            with httpx2.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
                while len(written) < 40 or not copied.is_set():
                    n = len(written)
                    batch = [{"id": [{"realm": "r", "provider": "app", "id": f"{n}-{i}"}]} for i in range(20)]
                    answers.append(client.post(PEOPLE, json={"people": batch}).status_code)
                    written.append(n)
                    writing.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert writing.wait(20)
        assert main(["backup", "--store", f"sqlite:///{tmp_path / 'hub.db'}", str(tmp_path / "copy.db")]) == 0
        copied.set()
        writer.join(60)
    assert set(answers) == {200}
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        records = copy.execute("SELECT count(*) FROM records WHERE collection = 'people'").fetchone()[0]
        links = copy.execute("SELECT count(*) FROM external_ids WHERE collection = 'people'").fetchone()[0]
    assert records == links and records % 20 == 0 and 0 < records <= 20 * len(written)  # whole batches only


def test_a_backup_replacing_a_database_is_not_read_with_the_journal_that_one_left(tmp_path: Path) -> None:
    """A database left open by a process that ended (a copy served, then killed) keeps its WAL beside it: renamed
    to its name, the new copy was read with that WAL, the old file's last writes laid over it."""
    url, copy = f"sqlite:///{tmp_path / 'hub.db'}", tmp_path / "copy.db"
    fill(url)
    assert main(["backup", "--store", url, str(copy)]) == 0
    with sqlite3.connect(copy) as served:  # the copy written to, as by a hub, and left as a crash leaves it
        served.execute("PRAGMA wal_autocheckpoint=0")
        served.execute("DELETE FROM records")
        served.commit()
        shutil.copy(f"{copy}-wal", tmp_path / "left")
    served.close()
    shutil.copy(tmp_path / "left", f"{copy}-wal")
    assert main(["backup", "--store", url, str(copy)]) == 0
    assert listed(f"sqlite:///{copy}") == listed(url)


@pytest.mark.parametrize(
    ("store", "target", "says"),
    [
        ("sqlite:///{dir}/hub.db", "{dir}/hub.db", "is the store's own file"),
        ("sqlite:///{dir}/hub.db", "{dir}/hub.db-wal", "is the store's own file"),
        ("sqlite:///{dir}/hub.db", "{dir}", "a directory"),
        ("sqlite:///{dir}/hub.db", "{dir}/none/copy.db", "No such file or directory"),
        ("mongodb://localhost:27017/hub", "{dir}/copy.db", "back up MongoDB with its own tools"),
    ],
)
def test_a_backup_that_would_replace_the_store_or_cannot_be_made_is_refused(
    tmp_path: Path, capsys: Any, store: str, target: str, says: str
) -> None:
    url = store.format(dir=tmp_path)
    if url.startswith("sqlite"):
        fill(url)
    assert main(["backup", "--store", url, target.format(dir=tmp_path)]) == 1
    assert says in capsys.readouterr().err
    assert not (tmp_path / "copy.db").exists()


def test_a_backup_to_a_link_writes_the_file_it_names(tmp_path: Path, capsys: Any) -> None:
    """Renamed onto, the link named as the copy was replaced by a file of its own, and the file it named (on the backup
    disk) was left as it was: the next restore from there served an old store."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    (tmp_path / "disk").mkdir()
    (tmp_path / "disk" / "copy.db").write_bytes(b"an old copy")
    (tmp_path / "latest.db").symlink_to(tmp_path / "disk" / "copy.db")
    assert main(["backup", "--store", url, str(tmp_path / "latest.db")]) == 0
    assert "backed up to" in capsys.readouterr().out
    assert (tmp_path / "latest.db").is_symlink()
    assert listed(f"sqlite:///{tmp_path / 'disk' / 'copy.db'}") == listed(url)
    assert sorted(p.name for p in (tmp_path / "disk").iterdir()) == ["copy.db"]


def test_a_backup_to_a_pipe_or_a_device_is_refused_and_leaves_it(tmp_path: Path, capsys: Any) -> None:
    """Renamed onto, a pipe (or, run as root, `/dev/null` itself) was replaced by a database file: SQLite cannot
    write a database into either, so the command says so and leaves it."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    os.mkfifo(tmp_path / "pipe")
    assert main(["backup", "--store", url, str(tmp_path / "pipe")]) == 1
    assert f"hub: {tmp_path / 'pipe'} is not a regular file" in capsys.readouterr().err
    assert stat.S_ISFIFO((tmp_path / "pipe").lstat().st_mode)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_backup_of_a_store_not_there_is_refused_and_makes_none(tmp_path: Path, capsys: Any) -> None:
    """Opening the store made it: a store URL mistyped (or `hub.db` in another directory) was backed up as an empty
    store, and the copy, said to be a backup, held nothing."""
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    assert main(["backup", "--store", url, str(tmp_path / "copy.db")]) == 1
    assert f"no SQLite store at {tmp_path / 'typo.db'}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_backup_is_no_more_readable_than_the_store(tmp_path: Path) -> None:
    """The copy holds all the store does (records, keys): made with the process's umask, a store only its owner could
    read was copied to one everyone could."""
    url, store = f"sqlite:///{tmp_path / 'hub.db'}", tmp_path / "hub.db"
    fill(url)
    store.chmod(0o600)
    assert main(["backup", "--store", url, str(tmp_path / "copy.db")]) == 0
    assert stat.S_IMODE((tmp_path / "copy.db").stat().st_mode) == 0o600


def test_a_backup_waits_for_no_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opened as a store, the file's schema brought up to date, the backup took the write lock first: a long write
    (an undo of an organization's 20,000 people takes 20 s) made it fail once `BUSY_MS` ran out."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    before = listed(url)
    monkeypatch.setattr(sqlite_conn, "BUSY_MS", 100)
    with closing(sqlite3.connect(tmp_path / "hub.db", isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")  # a write under way, its lock held, as a hub's
        writer.execute("DELETE FROM records")
        assert main(["backup", "--store", url, str(tmp_path / "copy.db")]) == 0
        writer.execute("ROLLBACK")
    assert listed(f"sqlite:///{tmp_path / 'copy.db'}") == before


def test_a_backup_to_standard_output_is_refused(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    """`-` names standard output to export and import; to backup it named a file `-`, which no one looked for."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    fill(url)
    monkeypatch.chdir(tmp_path)
    assert main(["backup", "--store", url, "-"]) == 1
    assert "standard output (-) cannot take" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hub.db"]
