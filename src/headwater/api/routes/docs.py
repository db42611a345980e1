"""The OpenAPI document and interactive docs, without authentication."""

from __future__ import annotations

from functools import lru_cache

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from headwater.api import openapi


@lru_cache(maxsize=1)
def _document() -> bytes:
    return msgspec.json.encode(openapi.document())


async def openapi_json(request: Request) -> Response:
    return Response(_document(), media_type="application/json")


async def docs(request: Request) -> Response:
    return HTMLResponse(openapi.DOCS_PAGE)


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
]
