"""The OpenAPI 3.1 description of the API, served at /openapi.json without a key."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api.json import JSONResponse


async def openapi_json(request: Request) -> Response:
    return JSONResponse({"openapi": "3.1.0"})


ROUTES = [Route("/openapi.json", openapi_json, methods=["GET"])]
