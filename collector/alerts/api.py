"""The alert HTTP API on the collector's server: list, history, acknowledge, silences.

Reading is open; changing (ack, silences) needs `Authorization: Bearer <api_token>`
(401 without it) and is disabled (403) when no token is configured.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from collector.alerts.durations import Duration
from collector.alerts.inhibition import inhibited
from collector.alerts.model import Alert
from collector.alerts.notifiers.base import iso
from collector.alerts.service import AlertService
from collector.alerts.store import Silence
from devices.topics import ID_RE

MAX_SILENCE_S = 366 * 86400


class SilenceRequest(BaseModel):
    """Body of POST /silences: station and/or rule; end, or duration (from start or now)."""

    model_config = ConfigDict(extra="forbid")

    station: str | None = Field(None, pattern=ID_RE.pattern)
    rule: str | None = None
    start: AwareDatetime | float | None = None
    end: AwareDatetime | float | None = None
    duration: Duration | None = None
    comment: str | None = Field(None, max_length=500)
    by: str | None = Field(None, max_length=100)


def _ms(v: datetime | float) -> int:
    return int((v.timestamp() if isinstance(v, datetime) else v) * 1000)


def alert_json(a: Alert, silenced: bool) -> dict[str, Any]:
    d = asdict(a)
    for key in ("since_ms", "fired_ms", "resolved_ms", "acked_ms", "last_notified_ms"):
        d[key.removesuffix("_ms")] = iso(d[key]) if d[key] is not None else None
    d["silenced"] = silenced
    return d


def silence_json(s: Silence) -> dict[str, Any]:
    d = asdict(s)
    d.update(start=iso(s.start_ms), end=iso(s.end_ms), created=iso(s.created_ms))
    return d


def _error(status: type[web.HTTPException], msg: str, **kw: Any) -> web.HTTPException:
    return status(text=f'{{"error": "{_esc(msg)}"}}', content_type="application/json", **kw)


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


class AlertApi:
    """Handlers bound to one AlertService."""

    def __init__(self, service: AlertService) -> None:
        self.svc = service
        token = service.settings.api_token
        self.token = token.get_secret_value().encode() if token is not None else None

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/alerts", self.list_active)
        app.router.add_get("/alerts/history", self.history)
        app.router.add_post("/alerts/{id}/ack", self.ack)
        app.router.add_get("/silences", self.list_silences)
        app.router.add_post("/silences", self.add_silence)
        app.router.add_delete("/silences/{id}", self.delete_silence)

    def _authorize(self, request: web.Request) -> None:
        if self.token is None:
            raise _error(web.HTTPForbidden, "alert changes are disabled: set alerts.api_token")
        m = re.fullmatch(r"Bearer (\S+)", request.headers.get("Authorization", ""))
        if m is None or not hmac.compare_digest(m.group(1).encode(), self.token):
            raise _error(
                web.HTTPUnauthorized,
                "a valid 'Authorization: Bearer <token>' is required",
                headers={"WWW-Authenticate": 'Bearer realm="solarwater"'},
            )

    def _now_ms(self) -> int:
        return int(self.svc.clock() * 1000)

    async def list_active(self, request: web.Request) -> web.Response:
        now = self._now_ms()
        alerts = sorted(self.svc.active.values(), key=lambda a: a.id)
        station = request.query.get("station")
        body = [
            {**alert_json(a, self.svc.silenced(a.station, a.rule, now)),
             "inhibited": inhibited(a, self.svc.active)}
            for a in alerts
            if station is None or a.station == station
        ]  # fmt: skip
        return web.json_response({"alerts": body})

    async def history(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            limit = int(q.get("limit", "100"))
            before = int(q["before"]) if "before" in q else None
        except ValueError:
            raise _error(web.HTTPBadRequest, "limit and before must be integers") from None
        if not 1 <= limit <= 1000:
            raise _error(web.HTTPBadRequest, "limit must be 1..1000")
        rows = await self.svc.history(limit, q.get("station"), q.get("rule"), before)
        now = self._now_ms()
        return web.json_response(
            {"alerts": [alert_json(a, self.svc.silenced(a.station, a.rule, now)) for a in rows]}
        )

    async def ack(self, request: web.Request) -> web.Response:
        self._authorize(request)
        try:
            alert_id = int(request.match_info["id"])
        except ValueError:
            raise _error(web.HTTPNotFound, "no such alert") from None
        by = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                raise _error(web.HTTPBadRequest, 'body must be JSON, e.g. {"by": "name"}') from None
            by = str(body.get("by"))[:100] if isinstance(body, dict) and body.get("by") else None
        a = await self.svc.ack(alert_id, by)
        if a is None:
            found = await self.svc.history(1, None, None, alert_id + 1)
            if found and found[0].id == alert_id:
                raise _error(web.HTTPConflict, f"alert {alert_id} is not active")
            raise _error(web.HTTPNotFound, f"no alert {alert_id}")
        return web.json_response(
            alert_json(a, self.svc.silenced(a.station, a.rule, self._now_ms()))
        )

    async def list_silences(self, request: web.Request) -> web.Response:
        now = self._now_ms()
        show_all = request.query.get("all") in ("1", "true", "yes")
        rows = [s for s in self.svc.silences if show_all or s.end_ms > now]
        return web.json_response({"silences": [silence_json(s) for s in rows]})

    async def add_silence(self, request: web.Request) -> web.Response:
        self._authorize(request)
        try:
            req = SilenceRequest.model_validate(await request.json())
        except ValueError as exc:
            if isinstance(exc, ValidationError):
                e = exc.errors()[0]
                where = ".".join(str(x) for x in e["loc"])
                msg = f"{where}: {e['msg']}" if where else e["msg"]
            else:
                msg = "body must be a JSON object"
            raise _error(web.HTTPBadRequest, msg) from None
        now = self._now_ms()
        if req.station is None and req.rule is None:
            raise _error(web.HTTPBadRequest, "give a station and/or a rule")
        if req.rule is not None and req.rule not in self.svc.settings.rules:
            raise _error(web.HTTPBadRequest, f"unknown rule {req.rule!r}")
        start = _ms(req.start) if req.start is not None else now
        if (req.end is None) == (req.duration is None):
            raise _error(web.HTTPBadRequest, "give either end or duration")
        end = _ms(req.end) if req.end is not None else start + int((req.duration or 0) * 1000)
        if end <= start or end <= now:
            raise _error(web.HTTPBadRequest, "the silence must end after its start and after now")
        if end - start > MAX_SILENCE_S * 1000:
            raise _error(web.HTTPBadRequest, "a silence lasts at most 366 days")
        s = Silence(0, req.station, req.rule, start, end, now, req.by, req.comment)
        created = await self.svc.add_silence(s)
        return web.json_response(silence_json(created), status=201)

    async def delete_silence(self, request: web.Request) -> web.Response:
        self._authorize(request)
        try:
            sid = int(request.match_info["id"])
        except ValueError:
            raise _error(web.HTTPNotFound, "no such silence") from None
        if not await self.svc.delete_silence(sid):
            raise _error(web.HTTPNotFound, f"no silence {sid}")
        return web.json_response({"deleted": sid})


_ = UTC  # datetime parsing in requests is timezone-aware (AwareDatetime)
