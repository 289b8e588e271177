"""What every page handler reads: the alert service, InfluxDB, the sessions, the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from collector.alerts.service import AlertService
from collector.alerts.technicians import Identity
from collector.auth_limit import AuthLimiter
from collector.web.html import e, page
from collector.web.i18n import LANG_COOKIE, Words, pick_lang
from collector.web.influxql import InfluxQL
from collector.web.sessions import COOKIE, Session, Sessions
from collector.web.settings import WebSettings
from devices.stations import Station


@dataclass(slots=True)
class WebContext:
    """The parts the pages share; `signed_in` is False for the link page alone (web off)."""

    svc: AlertService
    settings: WebSettings
    influx: InfluxQL | None
    devices: Callable[[], list[dict[str, Any]]]
    state_dir: Path  # the sessions' SQLite file lives here
    limiter: AuthLimiter  # shared with the alert API: one count per client address
    sessions: Sessions = field(init=False)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sessions = Sessions(
            self.state_dir, self.settings.max_sessions, self.settings.session_ttl
        )
        self.counts = dict.fromkeys(("signins", "signins_refused", "csrf_refused"), 0)

    def stats(self) -> dict[str, float]:
        """Counters (`web_` + name) and the sessions held, for /metrics."""
        out = {f"web_{k}": float(v) for k, v in self.counts.items()}
        out["web_sessions_evicted"] = float(self.sessions.evicted)
        out["web_query_errors"] = float(self.influx.errors) if self.influx is not None else 0.0
        return out

    def words(self, request: web.Request) -> Words:
        default = self.settings.language if self.settings.enabled else self.svc.settings.language
        return Words(pick_lang(request.cookies.get(LANG_COOKIE), default))

    def limited(self, request: web.Request) -> tuple[str, web.Response | None]:
        """The client's limiter key, and the 429 page while it (or everyone) is locked out."""
        key = self.limiter.client(request)
        wait = self.limiter.wait_s(key)
        if wait is None:
            return key, None
        w = self.words(request)
        resp = page(w, "SolarWater", f"<h1>SolarWater</h1><p>{e(w['too_many'])}</p>", status=429)
        resp.headers["Retry-After"] = str(wait)
        return key, resp

    async def session(self, request: web.Request) -> Session | None:
        """The request's session while its technician's token is still on file."""
        if not self.settings.enabled:
            return None
        s = await self.sessions.get(request.cookies.get(COOKIE), self.svc.clock())
        if s is None:
            return None
        techs = self.svc.technicians
        await asyncio.to_thread(techs.refresh)  # a stat() when nothing changed
        tech = next((t for t in techs.all() if t.token_sha256 == s.token_sha256), None)
        if tech is None:
            await self.sessions.close(s.id)  # the token was rotated or its technician removed
            return None
        # who it is, as the file says now: a changed district list applies at once
        who = Identity(tech.name, frozenset(tech.districts))
        return Session(s.id, who, s.token_sha256, s.expires_s)

    async def require(self, request: web.Request) -> Session:
        s = await self.session(request)
        if s is None:
            raise web.HTTPSeeOther("/signin")
        return s

    def stations_of(self, s: Session) -> list[Station]:
        return [st for st in self.svc.fleet.stations if s.who.may_act_on(st.district)]

    def station_for(self, s: Session, station_id: str) -> Station:
        """The station when `s` may see it; 404 when there is none, 403 when not theirs."""
        st = self.svc.fleet.get(station_id)
        if st is None:
            raise web.HTTPNotFound(text="no such station")
        if not s.who.may_act_on(st.district):
            raise web.HTTPForbidden(text="not a station of your districts")
        return st
