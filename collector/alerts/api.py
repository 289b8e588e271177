"""The alert HTTP API on the collector's server: list, history, acknowledge, silences, windows.

Reading is open; changing (ack, silences, windows) needs `Authorization: Bearer <token>`
(401 without it): the admin `api_token`, or a technician's token, which acts only on the
stations of the technician's districts (403 elsewhere). Disabled (403) with no token at all.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from collector.alerts.actions import Action
from collector.alerts.durations import Duration
from collector.alerts.inhibition import inhibited
from collector.alerts.model import Alert
from collector.alerts.notifiers.base import iso
from collector.alerts.service import AlertService
from collector.alerts.store import Silence
from collector.alerts.technicians import Identity
from collector.alerts.windows import MaintenanceWindow, WindowSettings
from collector.auth_limit import AuthLimiter
from devices.topics import ID_RE

MAX_SILENCE_S = 366 * 86400
MAX_WINDOWS = 1000  # open and coming windows made through the API


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


def action_json(a: Action) -> dict[str, Any]:
    d = asdict(a)
    d["at"] = iso(d.pop("ts_ms"))
    return d


def window_json(w: MaintenanceWindow) -> dict[str, Any]:
    return {"id": w.id, **w.s.model_dump(mode="json", by_alias=True, exclude_defaults=True)}


def _error(status: type[web.HTTPException], msg: str, **kw: Any) -> web.HTTPException:
    return status(text=f'{{"error": "{_esc(msg)}"}}', content_type="application/json", **kw)


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


class AlertApi:
    """Handlers bound to one AlertService."""

    def __init__(self, service: AlertService, limiter: AuthLimiter) -> None:
        self.svc = service
        self.limiter = limiter
        token = service.settings.api_token
        self.token = token.get_secret_value().encode() if token is not None else None

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/alerts", self.list_active)
        app.router.add_get("/alerts/history", self.history)
        app.router.add_post("/alerts/{id}/ack", self.ack)
        app.router.add_get("/silences", self.list_silences)
        app.router.add_post("/silences", self.add_silence)
        app.router.add_delete("/silences/{id}", self.delete_silence)
        app.router.add_get("/alerts/actions", self.list_actions)
        app.router.add_get("/alerts/{id}/history", self.alert_history)
        app.router.add_get("/windows", self.list_windows)
        app.router.add_post("/windows", self.add_window)
        app.router.add_delete("/windows/{id}", self.delete_window)

    async def _authorize(self, request: web.Request) -> Identity:
        techs = self.svc.technicians
        if self.token is None and not techs.inline and techs.path is None:
            raise _error(web.HTTPForbidden, "alert changes are disabled: set alerts.api_token")
        m = re.fullmatch(r"Bearer (\S+)", request.headers.get("Authorization", ""))
        client = self.limiter.client(request)
        if m is not None and (wait := self.limiter.wait_s(client)) is not None:
            raise _error(
                web.HTTPTooManyRequests, "too many wrong tokens from this address; wait",
                headers={"Retry-After": str(wait)},
            )  # fmt: skip
        if m is not None and self.token and hmac.compare_digest(m.group(1).encode(), self.token):
            return Identity("admin", None)
        if m is not None:
            await asyncio.to_thread(techs.refresh)  # a rotated token works without a restart
            found = techs.identify(m.group(1))
            if found is not None:
                return found
            self.limiter.failed(client)
        raise _error(
            web.HTTPUnauthorized,
            "a valid 'Authorization: Bearer <token>' is required",
            headers={"WWW-Authenticate": 'Bearer realm="solarwater"'},
        )

    def _scope(self, who: Identity, station: str | None) -> None:
        """403 unless `who` may act on `station` (a fleet-wide change: the admin only)."""
        if who.districts is None:
            return
        if station is None or not who.may_act_on(self.svc.fleet.district_of(station)):
            raise _error(
                web.HTTPForbidden, f"{who.name} may act only in {', '.join(sorted(who.districts))}"
            )

    @staticmethod
    def _who(who: Identity, given: str | None) -> tuple[str | None, str]:
        """(by, via): the admin may name who acts; a technician is who their token says."""
        return (given, "admin") if who.districts is None else (who.name, "technician")

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
        who = await self._authorize(request)
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
        found_alert = await self.svc.get_alert(alert_id)
        if found_alert is not None:
            self._scope(who, found_alert.station)
        by, via = self._who(who, by)
        a = await self.svc.ack(alert_id, by, via)
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
        who = await self._authorize(request)
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
        self._scope(who, req.station)
        by, via = self._who(who, req.by)
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
        s = Silence(0, req.station, req.rule, start, end, now, by, req.comment)
        created = await self.svc.add_silence(s, via)
        return web.json_response(silence_json(created), status=201)

    async def delete_silence(self, request: web.Request) -> web.Response:
        who = await self._authorize(request)
        try:
            sid = int(request.match_info["id"])
        except ValueError:
            raise _error(web.HTTPNotFound, "no such silence") from None
        gone = next((s for s in self.svc.silences if s.id == sid), None)
        if gone is not None:
            self._scope(who, gone.station)
        by, via = self._who(who, None)
        if not await self.svc.delete_silence(sid, by or "admin", via):
            raise _error(web.HTTPNotFound, f"no silence {sid}")
        return web.json_response({"deleted": sid})

    async def list_actions(self, request: web.Request) -> web.Response:
        """Who acknowledged and silenced what, newest first (?station=, ?limit=, ?before=)."""
        limit, before = _paging(request)
        rows = await self.svc.action_history(limit, None, request.query.get("station"), before)
        return web.json_response({"actions": [action_json(a) for a in rows]})

    async def alert_history(self, request: web.Request) -> web.Response:
        try:
            alert_id = int(request.match_info["id"])
        except ValueError:
            raise _error(web.HTTPNotFound, "no such alert") from None
        a = await self.svc.get_alert(alert_id)
        if a is None:
            raise _error(web.HTTPNotFound, f"no alert {alert_id}")
        limit, before = _paging(request)
        rows = await self.svc.action_history(limit, alert_id, None, before)
        silenced = self.svc.silenced(a.station, a.rule, self._now_ms())
        return web.json_response(
            {"alert": alert_json(a, silenced), "actions": [action_json(x) for x in rows]}
        )

    async def list_windows(self, request: web.Request) -> web.Response:
        now = self._now_ms()
        rows = [w for w in self.svc.maintenance.windows if not w.ended(now)]
        return web.json_response({"windows": [window_json(w) for w in rows]})

    async def add_window(self, request: web.Request) -> web.Response:
        who = await self._authorize(request)
        try:
            w = WindowSettings.model_validate(await request.json())
        except ValueError as exc:
            raise _bad_body(exc) from None
        self._scope(who, w.station)
        if self.svc.fleet.stations and self.svc.fleet.get(w.station) is None:
            raise _error(web.HTTPBadRequest, f"unknown station {w.station!r}")
        for r in w.rules:
            if r not in self.svc.settings.rules:
                raise _error(web.HTTPBadRequest, f"unknown rule {r!r}")
        now = self._now_ms()
        if (
            sum(x.id is not None and not x.ended(now) for x in self.svc.maintenance.windows)
            >= MAX_WINDOWS
        ):
            raise _error(web.HTTPConflict, f"at most {MAX_WINDOWS} windows: remove some first")
        by, via = self._who(who, None)
        created = await self.svc.maintenance.add(w, by or "admin", via)
        return web.json_response(window_json(created), status=201)

    async def delete_window(self, request: web.Request) -> web.Response:
        who = await self._authorize(request)
        try:
            wid = int(request.match_info["id"])
        except ValueError:
            raise _error(web.HTTPNotFound, "no such window") from None
        found = self.svc.maintenance.find(wid)
        if found is None:
            raise _error(web.HTTPNotFound, f"no window {wid} (config windows are not removable)")
        self._scope(who, found.s.station)
        by, via = self._who(who, None)
        await self.svc.maintenance.delete(wid, by or "admin", via)
        return web.json_response({"deleted": wid})


_ = UTC  # datetime parsing in requests is timezone-aware (AwareDatetime)


def _paging(request: web.Request) -> tuple[int, int | None]:
    q = request.query
    try:
        limit = int(q.get("limit", "100"))
        before = int(q["before"]) if "before" in q else None
    except ValueError:
        raise _error(web.HTTPBadRequest, "limit and before must be integers") from None
    if not 1 <= limit <= 1000:
        raise _error(web.HTTPBadRequest, "limit must be 1..1000")
    return limit, before


def _bad_body(exc: ValueError) -> web.HTTPException:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        where = ".".join(str(x) for x in e["loc"])
        return _error(web.HTTPBadRequest, f"{where}: {e['msg']}" if where else e["msg"])
    return _error(web.HTTPBadRequest, "body must be a JSON object")
