"""`hub serve`: a thin shell over the app."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from hub.app import create_app
from hub.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hub", description="The hub: sync people and organizations across apps.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--store",
        default=None,
        help="store URL: sqlite:///path.db or mongodb://host:port/db?replicaSet=rs0"
        " (default sqlite:///hub.db, or $HUB_STORE)",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env(store=args.store)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info", server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
