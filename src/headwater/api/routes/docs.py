"""The OpenAPI document and interactive docs, without authentication.

The docs page works without internet access: Swagger UI's files come from the pinned
`swagger-ui-bundle-v2` package and are served here, under /docs/static/ (a path of their
own, apart from any other static files the server may serve).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources.abc import Traversable

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from headwater import errors
from headwater.api import openapi

STATIC = "/docs/static"
FILES: Traversable = swagger_ui_path

#: the files the page uses, with their media types (an allow-list: nothing else is served)
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}

#: started from a file of its own rather than an inline script, so a strict
#: Content-Security-Policy in front of the server need not allow inline scripts
INIT_SCRIPT = b"""window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui", deepLinking: true});
});
"""

DOCS_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Headwater API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{STATIC}/swagger-ui.css">
<link rel="icon" type="image/png" href="{STATIC}/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="{STATIC}/favicon-16x16.png" sizes="16x16">
</head>
<body><div id="ui"></div>
<script src="{STATIC}/swagger-ui-bundle.js"></script>
<script src="{STATIC}/init.js"></script>
</body></html>"""

#: the files change only with the pinned package, so browsers may keep them a day
CACHE = {"Cache-Control": "public, max-age=86400"}


@lru_cache(maxsize=1)
def _document() -> bytes:
    return msgspec.json.encode(openapi.document())


@lru_cache(maxsize=len(ASSETS))
def _asset(name: str) -> bytes:
    return (FILES / name).read_bytes()


async def openapi_json(request: Request) -> Response:
    return Response(_document(), media_type="application/json")


async def docs(request: Request) -> Response:
    return HTMLResponse(DOCS_PAGE)


async def docs_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name == "init.js":
        return Response(
            INIT_SCRIPT, headers={**CACHE, "Content-Type": ASSETS["swagger-ui-bundle.js"]}
        )
    if name not in ASSETS:
        raise errors.NotFound(f"No route for GET {request.url.path}.")
    return Response(_asset(name), headers={**CACHE, "Content-Type": ASSETS[name]})


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
    Route(STATIC + "/{name}", docs_asset, methods=["GET"]),
]
