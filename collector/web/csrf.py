"""CSRF: every form carries its session's token; a POST without the matching one is refused."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from collector.web.sessions import Session

FIELD = "csrf"


async def form_if_valid(
    request: web.Request, session: Session, counts: dict[str, int]
) -> MultiDictProxy[str | bytes] | None:
    """The posted form, or None (counted as `csrf_refused`) without this session's token."""
    form = await request.post()
    if not session.csrf_ok(form.get(FIELD)):
        counts["csrf_refused"] += 1
        return None
    return form  # type: ignore[return-value]


async def checked_form(
    request: web.Request, session: Session, counts: dict[str, int]
) -> MultiDictProxy[str | bytes]:
    """The posted form, or 403 (counted as `csrf_refused`) without this session's token."""
    form = await form_if_valid(request, session, counts)
    if form is None:
        raise web.HTTPForbidden(text="CSRF token missing or wrong; reload the page")
    return form
