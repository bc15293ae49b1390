"""`hub import`, `hub export`, `hub backup`: records, and the SQLite store, to and from files; a file is written
whole or not at all, and what a killed run left beside it is cleared."""

from __future__ import annotations

import codecs
import errno
import io
import os
import stat
import sys
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

import orjson

from hub.api.json import not_json
from hub.api.render import Renderer
from hub.commands import standard, stored, with_store
from hub.config import Settings
from hub.errors import BadRequest
from hub.model.collections import COLLECTIONS
from hub.model.ids import CONTROL
from hub.progress import Progress
from hub.service import bulk
from hub.store import beside, own_files, sqlite_conn
from hub.store.base import Store


def import_file(settings: Settings, path: str, group_id: str, collection: str, quiet: bool) -> int:
    """Upsert every line of a JSON-lines file as a batch POST would; 1 if any item was refused."""
    stream: IO[bytes] = standard(sys.stdin, "input") if path == "-" else open(path, "rb")  # noqa: SIM115
    total = _count_lines(stream)
    progress = Progress(f"importing {collection}", total, stream=io.StringIO() if quiet else None)
    numbers = array("Q")  # one line number per item: 8 bytes each, not an int object each

    def lines_done(items: int) -> None:
        """The progress in lines (what the total counts), blank ones included: the line of the last item done."""
        progress(numbers[items - 1] if items else 0)

    try:
        with stream:
            report = with_store(
                settings,
                lambda store: bulk.import_records(
                    store, settings, group_id, COLLECTIONS[collection], _lines(stream, numbers), lines_done
                ),
            )
        progress(total or progress.done)  # blank lines after the last item
    finally:
        progress.finish()
    for index, error in report.errors[:20]:
        print(f"line {numbers[index]}: {error.status} {_one_line(error.detail)}", file=sys.stderr)
    if len(report.errors) > 20:
        print(f"… and {len(report.errors) - 20} more refused items", file=sys.stderr)
    summary = {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "failed": len(report.errors),
    }
    print(orjson.dumps(summary).decode())
    return 1 if report.errors else 0


def export_file(settings: Settings, path: str, group_id: str, collection: str, quiet: bool) -> None:
    """Write every live record of the collection, one per line, as a GET with `CONNEC-EXTERNAL-IDS: true` shows it."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "a directory, not a file to export to", path)
    _not_the_store(settings, path)
    stored(settings)
    progress = Progress(f"exporting {collection}", stream=io.StringIO() if quiet else None)

    async def export(store: Store, stream: IO[bytes]) -> None:
        async for page in bulk.export_records(store, group_id, COLLECTIONS[collection]):
            progress.total = page.total
            render = Renderer(page.group, COLLECTIONS[collection], settings.hub_provider, ids=True, select=None)
            stream.write(b"".join(orjson.dumps(record) + b"\n" for record in render.all(page)))
            progress(progress.done + len(page.records))

    try:
        with _export_stream(path) as stream:
            with_store(settings, lambda store: export(store, stream))
    except BaseException:
        if progress.total is not None:  # how far it got; before a first page (no such group), no export began
            progress.finish()
        raise
    progress.finish()


def _not_the_store(settings: Settings, path: str) -> None:
    """BadRequest if `path` is a file the store keeps its data in (by name, through a link, or as a hard link to
    it): `hub export --group cld-1 hub.db` replaced the default store's database with the export, saying nothing."""
    for own in own_files(settings.store):
        same = os.path.exists(own) and os.path.exists(path) and os.path.samefile(own, path)
        if same or os.path.realpath(own) == os.path.realpath(path):
            raise BadRequest(f"{path} is the store's own file ({own}): write to another file")


@contextmanager
def _export_stream(path: str) -> Iterator[IO[bytes]]:
    """Where an export writes. A file is written whole before it takes its name (`_whole_file`). Standard output
    (`-`), and a pipe, a device or a symbolic link named as the file (`/dev/stdout`, `>(gzip > people.jsonl.gz)`),
    are written through as they are: renamed onto, they were replaced by a regular file (`/dev/stdout`,
    `/dev/null` themselves) or the export failed, having written nothing."""
    if path == "-":
        out = standard(sys.stdout, "output")
        try:
            yield out
        finally:
            out.flush()
        return
    if os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path)):
        with open(path, "wb") as stream:
            yield stream
        return
    with _whole_file(path) as part, open(part, "wb") as stream:
        yield stream


@contextmanager
def _whole_file(path: str) -> Iterator[str]:
    """A name beside `path` to write a file under, renamed to `path` once it is whole: a command that fails leaves
    no file that could pass for a whole one, and the one it would have replaced as it was."""
    folder, name = os.path.split(path)
    _drop_parts_left(folder, name)
    part = os.path.join(folder, f".{name}.{os.getpid()}.part")
    try:
        yield part
    except BaseException as error:
        if os.path.exists(part):
            os.unlink(part)
        if isinstance(error, OSError) and error.filename == part:  # the part not made: said of the file asked for
            raise OSError(error.errno, error.strerror, path) from error
        raise
    os.replace(part, path)


PART_IDLE = 600
"""Seconds a part must have gone unwritten to count as a killed run's: an export or backup writes on until it ends."""


def _drop_parts_left(folder: str, name: str) -> None:
    """Remove what a killed export or backup to `name` left (`.name.<pid>.part`, its process gone, and the journal
    SQLite kept beside a backup's): nothing else would, and each run killed left another. One whose process runs
    is another command's, writing now; so is one written to in the last `PART_IDLE` seconds, whose pid may be of
    another machine or container sharing the directory (`docker compose run hub export …` beside a running one)."""
    idle_since = time.time() - PART_IDLE
    with suppress(OSError):
        for entry in os.scandir(folder or "."):
            pid = _part_of(entry, name)
            if pid is not None and not _running(pid) and entry.stat(follow_symlinks=False).st_mtime < idle_since:
                for left in (entry.path, *beside(entry.path)):
                    with suppress(OSError):
                        os.unlink(left)


def _part_of(entry: os.DirEntry[str], name: str) -> int | None:
    """The pid of the run whose part for `name` `entry` is: a regular file named as `_whole_file` names it, the pid
    as `str` writes it (`.name.042.part` is no run's); None for any other entry (a link, a pipe, a directory)."""
    pid = entry.name.removeprefix(f".{name}.").removesuffix(".part")
    if not (pid.isascii() and pid.isdigit()) or entry.name != f".{name}.{int(pid)}.part":
        return None
    return int(pid) if entry.is_file(follow_symlinks=False) else None


def _running(pid: int) -> bool:
    """Whether process `pid` runs; another user's does, and so does a number no process can have (left alone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        pass
    return True


def backup_file(settings: Settings, path: str) -> None:
    """Copy the SQLite store, as one committed state, to a new database file at `path`."""
    files = own_files(settings.store)
    if not files:
        raise BadRequest("hub backup copies a SQLite store; back up MongoDB with its own tools (mongodump, snapshots)")
    stored(settings)
    if path == "-":  # standard output, as export and import read it: a file named `-` was written
        raise BadRequest("hub backup writes a database file, which standard output (-) cannot take: name a file")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "a directory, not a file to back up to", path)
    _not_the_store(settings, path)
    target = _backup_target(path)

    with _whole_file(target) as part:
        open(part, "wb").close()  # a directory not there or not writable, said as for an export (not SQLite's error)
        os.chmod(part, stat.S_IMODE(os.stat(files[0]).st_mode))  # before a byte is in: no more readable than the store
        sqlite_conn.backup(files[0], part)
        for left in beside(target):  # left by the file the copy replaces: SQLite would read the copy with them
            with suppress(FileNotFoundError):
                os.unlink(left)
    print(f"backed up to {path}")


def _backup_target(path: str) -> str:
    """The file a backup to `path` is renamed onto: the one a symbolic link named so points to (renamed onto the link,
    the copy replaced it and left its file as it was). BadRequest for a pipe, a device or a socket, which a database
    cannot be written into (renamed onto, `hub backup /dev/null` run as root made /dev/null a database file)."""
    target = os.path.realpath(path) if os.path.islink(path) else path
    if os.path.exists(target) and not os.path.isfile(target):
        raise BadRequest(f"{path} is not a regular file: a backup is a SQLite database file of its own")
    return target


_WIDE = (
    ("UTF-32", (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)),
    ("UTF-16", (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)),
)
"""The encodings an import names by their byte order marks, UTF-32 first: its little-endian mark opens with UTF-16's."""


def _lines(stream: IO[bytes], numbers: array[int]) -> Iterator[Any]:
    """Each non-blank line parsed, or the problem of a line that is not JSON (refused like a bad item); the number
    of the line each item came from is added to `numbers`, so a refused item is named by its line, blank ones
    skipped. A UTF-8 byte order mark opening the file (as Windows tools write one) is passed over: orjson refused
    the first line for it. Each is parsed without its line break: a line cut short was said to end on `line 2`.
    A UTF-16 or UTF-32 file (its byte order mark) is refused whole, before anything is written: each line was
    refused alone, for `surrogates not allowed` or as not JSON."""
    for number, line in enumerate(stream, start=1):
        if number == 1:
            for encoding, marks in _WIDE:
                if line.startswith(marks):
                    raise BadRequest(
                        f"the file is {encoding} (it opens with its byte order mark): hub import reads UTF-8"
                    )
            line = line.removeprefix(codecs.BOM_UTF8)
        if line.strip():
            numbers.append(number)
            data = line.rstrip(b"\r\n")
            try:
                yield orjson.loads(data)
            except orjson.JSONDecodeError as error:
                yield BadRequest(f"not JSON: {not_json(error, data)}")


def _one_line(text: str) -> str:
    """`text` with its control characters escaped (`\\n`, `\\x1b`): a refused item's problem may quote the file
    (the name of an unknown field), and raw, a newline split its line and an escape sequence reached the terminal."""
    return CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode(), text)


def _count_lines(stream: IO[bytes]) -> int | None:
    """The lines of a file, for the progress line, read and rewound; None for a pipe or a terminal (a FIFO, a
    `/dev/stdin` or `<(…)` named as the file), whose lines can be read only once: they are the import."""
    if not stream.seekable():
        return None
    start, lines, last = stream.tell(), 0, b"\n"
    for block in iter(lambda: stream.read(1 << 20), b""):
        lines, last = lines + block.count(b"\n"), block[-1:]
    stream.seek(start)
    return lines + (last != b"\n")  # a last line without its newline is a line too
