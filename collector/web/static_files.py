"""The stylesheet and the script, read once at import and served with a long cache life."""

from __future__ import annotations

import hashlib
from importlib import resources

from aiohttp import web

from collector.web.html import HEADERS

_FILES = {
    "app.css": "text/css",
    "app.js": "text/javascript",
}
_BODIES = {
    name: (resources.files("collector.web").joinpath("static", name).read_bytes(), ctype)
    for name, ctype in _FILES.items()
}


async def static(request: web.Request) -> web.Response:
    found = _BODIES.get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    body, ctype = found
    etag = hashlib.sha256(body).hexdigest()[:16]
    headers = {**HEADERS, "Cache-Control": "public, max-age=86400", "ETag": f'"{etag}"'}
    if request.headers.get("If-None-Match") == f'"{etag}"':
        return web.Response(status=304, headers=headers)
    resp = web.Response(body=body, content_type=ctype, charset="utf-8", headers=headers)
    resp.enable_compression()
    return resp


def mount(app: web.Application) -> None:
    app.router.add_get("/static/{name}", static)
