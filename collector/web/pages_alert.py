"""The alert's page, with its acknowledge button: opened from the station list or a signed link.

One page, two ways in: `/alert/{id}` for a signed-in technician (session CSRF token, acts as
them), `/a/{token}` for the link of an SMS or e-mail (works without a session; the form's
token is derived from the link, and the name typed there is recorded).
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from collector.alerts.links import LinkRefused
from collector.alerts.model import Alert
from collector.web.context import WebContext
from collector.web.fleet_view import silence_cause
from collector.web.html import csrf_field, e, page
from collector.web.sessions import Session

NAME_MAX = 100


class AlertPage:
    """GET /alert/{id}; GET and POST /a/{token} (mounted whether or not the pages are on)."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def mount(self, app: web.Application, with_sessions: bool) -> None:
        app.router.add_get("/a/{token}", self.show_link)
        app.router.add_post("/a/{token}", self.ack_link)
        if with_sessions:
            app.router.add_get("/alert/{id}", self.show)

    def _refusal(self, request: web.Request, key: str, status: int) -> web.Response:
        w = self.ctx.words(request)
        body = f"<h1>SolarWater</h1><p>{e(w[key])}</p>"
        return page(w, "SolarWater", body, status=status)

    def render(
        self, request: web.Request, a: Alert, action: str, csrf: str, session: Session | None
    ) -> web.Response:
        w, svc = self.ctx.words(request), self.ctx.svc
        m = svc.messages
        now_ms = int(svc.clock() * 1000)
        title = m.title(a.rule)
        st = svc.fleet.get(a.station)
        where = f"{a.station} ({st.name})" if st and st.name else a.station
        rows = [
            (w["station"], where),
            (w["district"], a.district or "-"),
            (w["device"], a.device or "-"),
            (w["state"], w["firing"] if a.state == "firing" else w["resolved"]),
            (w["since"], m.local(a.since_ms, now_ms)),
        ]
        cause = silence_cause(a)
        if cause:
            rows.append((w["cause"], cause))
        if svc.silenced(a.station, a.rule, now_ms):
            rows.append((w["state"], w["silenced"]))
        detail = a.detail if a.state == "firing" else a.resolved_detail
        parts = [
            f'<h1 class="{e(a.severity)}">{e(title)}</h1><p>{e(detail)}</p><dl>',
            *(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows),
            "</dl>",
        ]
        if a.acked_ms is not None:
            at = m.local(a.acked_ms, now_ms)
            parts.append(f"<p>{e(w.f('acked', by=a.acked_by or '-'))} ({e(at)})</p>")
        elif a.state == "firing":
            name = (
                f'<label>{e(w["name"])}<input name="name" maxlength="{NAME_MAX}"'
                ' autocomplete="name"></label>'
                if session is None
                else ""
            )
            parts.append(
                f'<form method="post" action="{e(action)}">{csrf_field(csrf)}{name}'
                f'<button type="submit">{e(w["ack_long"])}</button></form>'
            )
        if session is not None:
            parts.append(f'<p><a href="/s/{quote(a.station)}">{e(w["open_station"])}</a></p>')
        return page(w, f"{w['alert']} #{a.id}: {title} {a.station}", "".join(parts),
                    session=session, here=request.path)  # fmt: skip

    async def show(self, request: web.Request) -> web.Response:
        s = await self.ctx.require(request)
        try:
            a = await self.ctx.svc.get_alert(int(request.match_info["id"]))
        except ValueError:
            a = None
        if a is None:
            return self._refusal(request, "missing", 404)
        if not s.who.may_act_on(self.ctx.svc.fleet.district_of(a.station)):
            return self._refusal(request, "forbidden", 403)
        return self.render(request, a, f"/alert/{a.id}/ack", s.csrf, s)

    def _verify(self, request: web.Request) -> tuple[int, str] | web.Response:
        client, too_many = self.ctx.limited(request)
        if too_many is not None:
            return too_many
        signer = self.ctx.svc.signer
        if signer is None:
            return self._refusal(request, "forged", 403)  # links are off: none is ours
        token = request.match_info["token"]
        try:
            link = signer.verify(token, self.ctx.svc.clock())
        except LinkRefused as exc:
            if exc.expired:  # ours, only late: not a guess
                return self._refusal(request, "expired", 410)
            self.ctx.limiter.failed(client)
            return self._refusal(request, "forged", 403)
        return link.alert_id, token

    async def show_link(self, request: web.Request) -> web.Response:
        checked = self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        alert_id, token = checked
        a = await self.ctx.svc.get_alert(alert_id)
        if a is None:
            return self._refusal(request, "missing", 404)
        assert self.ctx.svc.signer is not None
        return self.render(request, a, token, self.ctx.svc.signer.csrf(token), None)

    async def ack_link(self, request: web.Request) -> web.Response:
        checked = self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        alert_id, token = checked
        signer = self.ctx.svc.signer
        assert signer is not None
        form = await request.post()
        csrf, name = form.get("csrf"), form.get("name")
        if not isinstance(csrf, str) or not signer.csrf_ok(token, csrf):
            self.ctx.counts["csrf_refused"] += 1
            return self._refusal(request, "bad_form", 403)
        who = name.strip()[:NAME_MAX] if isinstance(name, str) and name.strip() else None
        a = await self.ctx.svc.ack(alert_id, who or "link", via="link")
        if a is None:
            gone = await self.ctx.svc.get_alert(alert_id) is None
            return self._refusal(request, "missing" if gone else "not_active", 409)
        raise web.HTTPSeeOther(location=token)  # a reload does not post again
