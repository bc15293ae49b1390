"""The ceiling: a bare Starlette endpoint returning a small JSON object, served like the hub is."""

from __future__ import annotations

import argparse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.cli import listen, port_number, run_server


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "world", "status": "ok"})


app = Starlette(routes=[Route("/", hello)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_number, default=8001)
    args = parser.parse_args()
    run_server(app, listen(args.host, args.port))


if __name__ == "__main__":
    main()
