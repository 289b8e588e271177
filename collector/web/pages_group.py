"""The page a grouped notification's signed link opens: its alerts, one "acknowledge all".

`/g/{token}` names a group of alerts (collector/alerts/link_groups.py) that went out as one
message. Unlike an alert's link, it is not a key to act: it shows the alerts to whoever
holds it, and acknowledging needs a signed-in technician (session CSRF token), who acts on
the alerts of their districts only; the others are shown as not theirs.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from collector.alerts.links import LinkRefused
from collector.alerts.model import Alert
from collector.web.context import WebContext
from collector.web.csrf import form_if_valid
from collector.web.html import csrf_field, e, page
from collector.web.i18n import Words
from collector.web.sessions import Session

FIELD = "alert"  # the one alert a per-alert button acknowledges; absent: all of mine


class GroupPage:
    """GET and POST /g/{token} (mounted whether or not the pages are on)."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/g/{token}", self.show)
        app.router.add_post("/g/{token}", self.ack)

    def _refusal(
        self, request: web.Request, key: str, status: int, back: bool = False
    ) -> web.Response:
        """A refusal page; `back`: with a link to the group's page (a POST's refusal)."""
        w = self.ctx.words(request)
        link = f'<p><a href="{e(request.path)}">{e(w["back_to_group"])}</a></p>' if back else ""
        body = f"<h1>SolarWater</h1><p>{e(w[key])}</p>{link}"
        return page(w, "SolarWater", body, status=status)

    async def _alerts(self, request: web.Request) -> list[Alert] | web.Response:
        """The group's alerts, or the refusal page of a forged (403), expired (410) or
        pruned (404) link."""
        client, too_many = self.ctx.limited(request)
        if too_many is not None:
            return too_many
        svc = self.ctx.svc
        if svc.signer is None:
            return self._refusal(request, "forged", 403)
        try:
            link = svc.signer.verify(request.match_info["token"], svc.clock(), "g")
        except LinkRefused as exc:
            if exc.expired:  # ours, only late: not a guess
                return self._refusal(request, "expired", 410)
            self.ctx.limiter.failed(client)
            return self._refusal(request, "forged", 403)
        ids = await svc.link_group(link.alert_id)
        if ids is None:
            return self._refusal(request, "missing", 404)
        found = [await svc.get_alert(i) for i in ids]
        return [a for a in found if a is not None]

    def _mine(self, s: Session | None, a: Alert) -> bool:
        return s is not None and s.who.may_act_on(self.ctx.svc.fleet.district_of(a.station))

    def _row(self, w: Words, s: Session | None, a: Alert, here: str, now_ms: int) -> str:
        m, fleet = self.ctx.svc.messages, self.ctx.svc.fleet
        st = fleet.get(a.station)
        where = f"{a.station} ({st.name})" if st and st.name else a.station
        detail = a.detail if a.state == "firing" else a.resolved_detail
        head = (
            f'<li><b class="{e(a.severity)}">{e(where)}</b> · {e(m.title(a.rule))}'
            f"{' · ' + e(a.device) if a.device else ''}<br><small>{e(detail)} · "
            f"{e(w['since'])} {e(m.local(a.since_ms, now_ms))} · "
            f"{e(w['firing'] if a.state == 'firing' else w['resolved'])}</small>"
        )
        if a.acked_ms is not None:
            tail = f"<br>{e(w.f('acked', by=a.acked_by or '-'))}"
        elif s is not None and not self._mine(s, a):
            tail = f"<br><small>{e(w['not_yours'])}</small>"
        elif s is not None and a.state == "firing":
            tail = (
                f'<form method="post" action="{e(here)}">{csrf_field(s.csrf)}'
                f'<button type="submit" class="sec" name="{FIELD}" value="{a.id}">'
                f"{e(w['ack'])}: {e(a.station)}</button></form>"
            )
        else:
            tail = ""
        return head + tail + "</li>"

    async def show(self, request: web.Request) -> web.Response:
        alerts = await self._alerts(request)
        if isinstance(alerts, web.Response):
            return alerts
        s = await self.ctx.session(request)
        w, here = self.ctx.words(request), request.path
        now_ms = int(self.ctx.svc.clock() * 1000)
        open_mine = [a for a in alerts if self._mine(s, a) and _ackable(a)]
        parts = [f"<h1>{e(w.f('group_title', n=len(alerts)))}</h1>"]
        if s is not None and open_mine:
            parts.append(
                f'<form method="post" action="{e(here)}" data-confirm="">{csrf_field(s.csrf)}'
                f'<button type="submit">{e(w.f("ack_all", n=len(open_mine)))}</button></form>'
            )
        elif s is None and self.ctx.settings.enabled:
            target = quote(here, safe="/")
            parts.append(f'<p><a href="/signin?next={target}">{e(w["signin_to_ack"])}</a></p>')
        elif s is None:
            parts.append(f"<p>{e(w['group_no_web'])}</p>")
        rows = "".join(self._row(w, s, a, here, now_ms) for a in alerts)
        parts.append(f'<ul class="hist">{rows}</ul>')
        title = w.f("group_title", n=len(alerts))
        return page(w, title, "".join(parts), session=s, here=here)

    async def ack(self, request: web.Request) -> web.Response:
        alerts = await self._alerts(request)
        if isinstance(alerts, web.Response):
            return alerts
        s = await self.ctx.session(request)
        if s is None:
            raise web.HTTPSeeOther(f"/signin?next={quote(request.path, safe='/')}")
        form = await form_if_valid(request, s, self.ctx.counts)
        if form is None:  # a page of an earlier session (signed in again since): a way back
            return self._refusal(request, "bad_form", 403, back=True)
        one = form.get(FIELD)
        if one is not None:
            picked = [a for a in alerts if str(a.id) == one]
            if not picked:
                return self._refusal(request, "missing", 404, back=True)
            if not self._mine(s, picked[0]):
                return self._refusal(request, "forbidden", 403, back=True)
        else:
            picked = [a for a in alerts if self._mine(s, a)]
        for a in picked:
            if _ackable(a):
                await self.ctx.svc.ack(a.id, s.who.name, via="web")
        raise web.HTTPSeeOther(request.path)  # a reload does not post again


def _ackable(a: Alert) -> bool:
    return a.state == "firing" and a.acked_ms is None
