"""The `hub` command (`serve`, `import`, `export`, `backup`, `keys`, `connect`, `disconnect`, `recount`, `index`): a
thin shell over the app and hub.service.

Here the arguments are parsed and `hub serve` is run; the other commands are in hub.commands and hub.files."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import socket
import sys
from typing import Any

import uvicorn

from hub.api.access_log import KeysHidden
from hub.api.protocol import ProblemH11Protocol
from hub.app import create_app
from hub.commands import (
    add_index,
    connect,
    create_key,
    disconnect,
    drop_index,
    list_indexes,
    list_keys,
    recount,
    revoke_key,
    show_key,
    with_store,
)
from hub.config import BadSetting, Settings, misspelt
from hub.errors import HubError
from hub.files import backup_file, export_file, import_file
from hub.model.collections import COLLECTIONS
from hub.model.numbers import whole
from hub.service import access


def serve(settings: Settings, host: str, port: int) -> None:
    listening = listen(host, port)
    made = with_store(settings, access.first_admin_key)
    if made is not None:
        show_key(made, "This store had no admin key, so the hub made one. It is shown only this once:")
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
    logging.getLogger("uvicorn.access").addFilter(KeysHidden())
    host, port = sock.getsockname()[:2]
    logging.getLogger("uvicorn.error").info("serving on http://%s:%d (CTRL+C to stop)", host, port)
    server.run(sockets=[sock])


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
    load.add_argument(
        "file",
        help='one record per line, as an item of a batch POST, not wrapped in {"people": …} (- for standard input)',
    )
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

    commands.add_parser("recount", parents=[store], help="count again what the totals of pages are read from")
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
        elif args.command == "recount":
            recount(settings)
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
        if args.command != "serve":  # a server stopped so has said it shut down, and wrote nothing half
            print("\nhub: interrupted; what was written before stays (an import can be run again)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
