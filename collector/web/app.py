"""Mounts the pages on the collector's aiohttp app: the link page always, the rest when enabled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from collector.alerts.service import AlertService
from collector.auth_limit import AuthLimiter
from collector.web import static_files
from collector.web.context import WebContext
from collector.web.html import HEADERS
from collector.web.influxql import InfluxQL
from collector.web.pages_alert import AlertPage
from collector.web.pages_auth import AuthPages
from collector.web.pages_group import GroupPage
from collector.web.pages_station import StationPage
from collector.web.pages_stations import StationPages
from collector.web.settings import WebSettings

WEB_CONTEXT: web.AppKey[WebContext] = web.AppKey("web")


async def _security_headers(request: web.Request, resp: web.StreamResponse) -> None:
    # every answer, errors too (a 403 from the CSRF check is a page a browser shows)
    for k, v in HEADERS.items():
        resp.headers.setdefault(k, v)


def mount_web(
    app: web.Application,
    svc: AlertService,
    settings: WebSettings,
    influx: InfluxQL | None,
    devices: Callable[[], list[dict[str, Any]]],
    state_dir: Path,
    limiter: AuthLimiter,
) -> WebContext:
    """The alert page of signed links, and with `settings.enabled` every page at `/`.

    The sessions' file (in `state_dir`) opens with the app and closes with it.
    """
    ctx = WebContext(svc, settings, influx, devices, state_dir, limiter)
    app[WEB_CONTEXT] = ctx

    async def open_sessions(app: web.Application) -> None:
        if ctx.settings.enabled:
            await ctx.sessions.start(svc.clock())

    async def close_sessions(app: web.Application) -> None:
        await ctx.sessions.aclose()

    app.on_startup.append(open_sessions)
    app.on_cleanup.append(close_sessions)
    app.on_response_prepare.append(_security_headers)
    static_files.mount(app)
    enabled = settings.enabled and influx is not None
    AlertPage(ctx).mount(app, with_sessions=enabled)
    GroupPage(ctx).mount(app)
    if enabled:
        assert influx is not None
        AuthPages(ctx).mount(app)
        StationPages(ctx, influx).mount(app)
        StationPage(ctx, influx).mount(app)
    return ctx
