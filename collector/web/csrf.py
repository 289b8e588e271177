"""CSRF: every form carries its session's token; a POST without the matching one is refused."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from collector.web.sessions import Session

FIELD = "csrf"


async def checked_form(request: web.Request, session: Session) -> MultiDictProxy[str | bytes]:
    """The posted form, or 403 when its token is missing or not this session's."""
    form = await request.post()
    if not session.csrf_ok(form.get(FIELD)):
        raise web.HTTPForbidden(text="CSRF token missing or wrong; reload the page")
    return form  # type: ignore[return-value]
