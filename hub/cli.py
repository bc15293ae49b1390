"""`hub serve`, `hub import`, `hub export`, `hub keys …`, `hub connect …`: a thin shell over the app and hub.service."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import errno
import gc
import io
import logging
import os
import re
import socket
import stat
import sys
import time
from array import array
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any, TypeVar

import orjson
import uvicorn

from hub.api.protocol import ProblemH11Protocol
from hub.api.render import Renderer
from hub.app import create_app
from hub.config import BadSetting, Settings, misspelt
from hub.errors import BadRequest, HubError
from hub.model.access import ApiKey
from hub.model.collections import COLLECTIONS
from hub.model.field_index import field_index
from hub.model.numbers import whole
from hub.progress import Progress
from hub.service import access, bulk, field_indexes
from hub.store import beside, own_files, shown, sqlite, store_from_url
from hub.store.base import Store

T = TypeVar("T")


def _with_store(settings: Settings, use: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = store_from_url(settings.store)
        try:
            await store.open()
        except Exception as error:  # a file that cannot be made, a server not there: said, not a traceback
            raise BadRequest(f"cannot open the store {shown(settings.store)}: {error}") from error
        try:
            return await use(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _show_key(made: access.NewKey, heading: str) -> None:
    print(heading)
    print(f"  key id:  {made.key.key_id}")
    print(f"  secret:  {made.secret}")
    print(f"  header:  Authorization: Bearer {made.token}")
    print("  (HTTP Basic works too: the key id as user name, the secret as password.)", flush=True)


def serve(settings: Settings, host: str, port: int) -> None:
    listening = listen(host, port)
    made = _with_store(settings, access.first_admin_key)
    if made is not None:
        _show_key(made, "This store had no admin key, so the hub made one. It is shown only this once:")
    run_server(create_app(settings), listening, settings)


def port_number(text: str) -> int:
    """A TCP port given on the command line (0: any free one)."""
    port = whole(text)
    if port is None or port > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: a whole number from 0 to 65535")
    return port


def host_name(text: str) -> str:
    """An address to listen on given on the command line: never empty, which binds every interface (0.0.0.0)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not an address: name one, e.g. 127.0.0.1 (or 0.0.0.0 for all)")
    return text


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything else is done: an address taken or unknown is said as any failed
    command says why (exit 1), and a fresh store gets no admin key for a hub that never served."""
    # IPPROTO_TCP named, not left 0: asyncio turns Nagle's algorithm off only on connections of such a socket, and
    # with it on, an answer written in two parts waited out the client's delayed ACK (40 ms a request).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"cannot listen there ({error.strerror or error})", f"{host}:{port}") from error
    return sock


GC_YOUNG = 50_000
"""New objects between two collections of the youngest generation (CPython's default: 700)."""


def run_server(app: Any, sock: socket.socket, settings: Settings | None = None) -> None:
    """Serve an ASGI app the way the hub is served (the benchmark serves its ceiling with this too).

    Python's cycle collector ran every 700 new objects, and a batch of 1,000 makes hundreds of
    thousands (bodies, records, answers), with several in flight: each collection stopped both
    the event loop and the writer thread. Collecting every 50,000 and leaving out what start-up
    made (`gc.freeze`) took batches of 1,000 (wrk -c16, 10k records) from 5,500-6,000 to 7,400-8,000 records/s.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])
    settings = settings or Settings()
    protocol = ProblemH11Protocol.waiting(
        settings.request_head_seconds, settings.request_body_min_rate, settings.response_stall_seconds
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", server_header=False, http=protocol))
    host, port = sock.getsockname()[:2]
    logging.getLogger("uvicorn.error").info("serving on http://%s:%d (CTRL+C to stop)", host, port)
    server.run(sockets=[sock])


def import_file(settings: Settings, path: str, group_id: str, collection: str, quiet: bool) -> int:
    """Upsert every line of a JSON-lines file as a batch POST would; 1 if any item was refused."""
    stream: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    total = _count_lines(stream)
    progress = Progress(f"importing {collection}", total, stream=io.StringIO() if quiet else None)
    numbers = array("Q")  # one line number per item: 8 bytes each, not an int object each

    def lines_done(items: int) -> None:
        """The progress in lines (what the total counts), blank ones included: the line of the last item done."""
        progress(numbers[items - 1] if items else 0)

    try:
        with stream:
            report = _with_store(
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
    progress = Progress(f"exporting {collection}", stream=io.StringIO() if quiet else None)

    async def export(store: Store, stream: IO[bytes]) -> None:
        async for page in bulk.export_records(store, group_id, COLLECTIONS[collection]):
            if page.total is not None:
                progress.total = page.total
            render = Renderer(page.group, COLLECTIONS[collection], settings.hub_provider, ids=True, select=None)
            stream.write(b"".join(orjson.dumps(record) + b"\n" for record in render.all(page)))
            progress(progress.done + len(page.records))

    try:
        with _export_stream(path) as stream:
            _with_store(settings, lambda store: export(store, stream))
    finally:
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
        try:
            yield sys.stdout.buffer
        finally:
            sys.stdout.buffer.flush()
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
    except BaseException:
        if os.path.exists(part):
            os.unlink(part)
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
    if not os.path.isfile(files[0]):  # opened, it would be made: an empty store backed up as if it were the one meant
        raise BadRequest(f"no SQLite store at {files[0]}: nothing to back up")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "a directory, not a file to back up to", path)
    _not_the_store(settings, path)

    with _whole_file(path) as part:
        open(part, "wb").close()  # a directory not there or not writable, said as for an export (not SQLite's error)
        os.chmod(part, stat.S_IMODE(os.stat(files[0]).st_mode))  # before a byte is in: no more readable than the store
        sqlite.backup(files[0], part)
        for left in beside(path):  # left by the file the copy replaces: SQLite would read the copy with them
            with suppress(FileNotFoundError):
                os.unlink(left)
    print(f"backed up to {path}")


def _lines(stream: IO[bytes], numbers: array[int]) -> Iterator[Any]:
    """Each non-blank line parsed, or the problem of a line that is not JSON (refused like a bad item); the number
    of the line each item came from is added to `numbers`, so a refused item is named by its line, blank ones
    skipped. A UTF-8 byte order mark opening the file (as Windows tools write one) is passed over: orjson refused
    the first line for it."""
    for number, line in enumerate(stream, start=1):
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        if line.strip():
            numbers.append(number)
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError as error:
                yield BadRequest(f"not JSON: {error}")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _one_line(text: str) -> str:
    """`text` with its control characters escaped (`\\n`, `\\x1b`): a refused item's problem may quote the file
    (the name of an unknown field), and raw, a newline split its line and an escape sequence reached the terminal."""
    return _CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode(), text)


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


def create_key(settings: Settings, provider: str | None) -> None:
    made = _with_store(settings, lambda store: access.create_key(store, provider, settings.hub_provider))
    who = f"app {provider}" if provider else "the admin"
    _show_key(made, f"A new key for {who}. The secret is shown only this once:")


def list_keys(settings: Settings) -> None:
    async def gather(store: Store) -> tuple[list[ApiKey], dict[str, list[str]]]:
        groups: dict[str, list[str]] = {}
        for c in await store.connections():
            groups.setdefault(c.provider, []).append(f"{c.group_id} (realm {c.realm})")
        return list(await store.keys()), groups

    keys, groups = _with_store(settings, gather)
    print(f"{'KEY ID':<20} {'FOR':<24} {'CREATED':<28} {'REVOKED':<28} GROUPS")
    for key in keys:
        who = key.provider or "(admin)"
        where = "(all)" if key.admin else ", ".join(groups.get(who, [])) or "(none)"
        print(f"{key.key_id:<20} {who:<24} {key.created_at:<28} {key.revoked_at or '-':<28} {where}")


def revoke_key(settings: Settings, key_id: str) -> None:
    _with_store(settings, lambda store: access.revoke_key(store, key_id))
    print(f"revoked {key_id}; a running hub refuses it within {settings.key_cache_seconds} s")


def connect(settings: Settings, provider: str, group_id: str, realm: str) -> None:
    _with_store(settings, lambda store: access.connect(store, provider, group_id, realm, settings.hub_provider))
    print(f"{provider} is connected to {group_id} with realm {realm}")


def disconnect(settings: Settings, provider: str, group_id: str) -> None:
    _with_store(settings, lambda store: access.disconnect(store, provider, group_id))
    print(f"{provider} is no longer connected to {group_id}")


def list_indexes(settings: Settings) -> None:
    indexes = _with_store(settings, lambda store: store.field_indexes())
    print("\n".join(str(index) for index in indexes) or "(no field is indexed)")


def add_index(settings: Settings, collection: str, field: str) -> None:
    index, started = field_index(collection, field), time.monotonic()
    print(f"indexing {index} (every record of the entity type is read once)", file=sys.stderr)
    added = _with_store(settings, lambda store: field_indexes.add_index(store, index))
    print(f"{index} is indexed ({time.monotonic() - started:.1f} s)" if added else f"{index} was indexed already")


def drop_index(settings: Settings, collection: str, field: str) -> None:
    index = field_index(collection, field)
    _with_store(settings, lambda store: field_indexes.drop_index(store, index))
    print(f"{index} is no longer indexed")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hub", description="The hub: sync people and organizations across apps.")
    commands = top.add_subparsers(dest="command", required=True)
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--store",
        default=None,
        help=(
            "store URL: sqlite:///path.db or mongodb://host:port/db?replicaSet=rs0"
            " (default sqlite:///hub.db, or $HUB_STORE)"
        ),
    )

    serve = commands.add_parser("serve", parents=[store], help="serve the HTTP API")
    serve.add_argument("--host", type=host_name, default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=8000, help="port to listen on (default 8000)")

    load = commands.add_parser("import", parents=[store], help="upsert many records from a JSON-lines file")
    load.add_argument("file", help="one record body per line, as POSTed to the collection (- for standard input)")
    load.add_argument("--group", required=True, help="the group to import into, e.g. cld-1234")

    copy = commands.add_parser("backup", parents=[store], help="copy the SQLite store to a new database file")
    copy.add_argument("file", help="the copy: a SQLite database, served as it is with --store sqlite:///<file>")

    dump = commands.add_parser("export", parents=[store], help="write every live record to a JSON-lines file")
    dump.add_argument("file", help="one record per line, as a GET with id arrays shows it (- for standard output)")
    dump.add_argument("--group", required=True, help="the group to export, e.g. cld-1234")
    for command in (load, dump):
        command.add_argument("--collection", default="people", choices=sorted(COLLECTIONS), help="default people")
        command.add_argument("--quiet", action="store_true", help="no progress line")

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", parents=[store], help="make a key and show its secret once")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--provider", help="the app the key speaks for")
    who.add_argument("--admin", action="store_true", help="an admin key: every group, any id")
    keys.add_parser("list", parents=[store], help="every key, with its app's groups")
    revoke = keys.add_parser("revoke", parents=[store], help="refuse a key from now on")
    revoke.add_argument("key_id")

    link = commands.add_parser("connect", parents=[store], help="let an app reach a group, holding ids in a realm")
    unlink = commands.add_parser("disconnect", parents=[store], help="take a group away from an app")
    for command in (link, unlink):
        command.add_argument("--provider", required=True, help="the app")
        command.add_argument("--group", required=True, help="the group id, e.g. cld-1234")
    link.add_argument("--realm", required=True, help="the app's own tenant id for this group, e.g. 2243")

    index = commands.add_parser("index", help="indexes on declared fields, read by $filter and $orderby")
    indexes = index.add_subparsers(dest="action", required=True)
    indexes.add_parser("list", parents=[store], help="the fields indexed")
    for action, says in (
        ("add", "index a field: every page that filters or orders by it reads the index"),
        ("drop", "stop keeping a field's index"),
    ):
        command = indexes.add_parser(action, parents=[store], help=says)
        command.add_argument("collection", choices=sorted(COLLECTIONS), help="the entity type")
        command.add_argument("field", help="the field, named as $filter names it, e.g. email/address")
    return top


PIPE_CLOSED = 128 + 13
"""The status of a command whose standard output was closed before it was done: a shell's for SIGPIPE."""


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env(store=args.store)
        for typo, meant in misspelt(os.environ):
            print(f"hub: {typo} names no setting and is ignored (did you mean {meant}?)", file=sys.stderr)
        if args.command == "serve":
            serve(settings, args.host, args.port)
        elif args.command == "import":
            return import_file(settings, args.file, args.group, args.collection, args.quiet)
        elif args.command == "export":
            export_file(settings, args.file, args.group, args.collection, args.quiet)
        elif args.command == "backup":
            backup_file(settings, args.file)
        elif args.command == "keys" and args.action == "create":
            create_key(settings, args.provider)
        elif args.command == "keys" and args.action == "list":
            list_keys(settings)
        elif args.command == "keys":
            revoke_key(settings, args.key_id)
        elif args.command == "index" and args.action == "list":
            list_indexes(settings)
        elif args.command == "index":
            (add_index if args.action == "add" else drop_index)(settings, args.collection, args.field)
        elif args.command == "connect":
            connect(settings, args.provider, args.group, args.realm)
        else:
            disconnect(settings, args.provider, args.group)
    except HubError as error:
        print(f"hub: {error.detail}", file=sys.stderr)
        return 1
    except BadSetting as error:
        print(f"hub: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `hub export - | head`: the reader had what it wanted; said nothing, as other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor by Python flushing it at exit
        return PIPE_CLOSED
    except OSError as error:  # a file to import that is not there, a directory to export to…
        where = f": {error.filename}" if error.filename else ""
        print(f"hub: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: what was committed stays (an import, whole batches), said without a traceback
        print("\nhub: interrupted; what was written before stays (an import can be run again)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
