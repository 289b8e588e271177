"""The station list (most urgent first) and the province map, of the technician's districts."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from collector.web.context import WebContext
from collector.web.fleet_view import StationView, now_ms, silence_cause, station_views
from collector.web.html import dash, e, page
from collector.web.i18n import Words
from collector.web.influxql import InfluxQL
from collector.web.map_svg import province_map


def days(w: Words, x: float | None) -> str:
    return "—" if x is None else w.f("days", n=f"{x:.1f}")


def alert_line(ctx: WebContext, w: Words, v: StationView, now: int) -> str:
    if not v.alerts:
        return e(w["none"])
    items = []
    for a in v.alerts:
        text = ctx.svc.messages.title(a.rule)
        extra = []
        if ctx.svc.silenced(a.station, a.rule, int(ctx.svc.clock() * 1000)):
            extra.append(w["silenced"])
        cause = silence_cause(a)
        if cause:
            extra.append(f"{w['cause']}: {cause}")
        if a.acked_ms is not None:
            extra.append(w.f("acked", by=a.acked_by or "-"))
        more = f" ({e(', '.join(extra))})" if extra else ""
        items.append(
            f'<li class="{e(a.severity)}"><a href="/alert/{a.id}">{e(text)}</a> '
            f"{e(w.ago(a.since_ms, now))}{more}</li>"
        )
    return f'<ul class="al">{"".join(items)}</ul>'


class StationPages:
    """GET / (the list) and GET /map."""

    def __init__(self, ctx: WebContext, influx: InfluxQL) -> None:
        self.ctx = ctx
        self.influx = influx

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/", self.list)
        app.router.add_get("/map", self.map)

    async def list(self, request: web.Request) -> web.Response:
        s = await self.ctx.require(request)
        w = self.ctx.words(request)
        views = await station_views(self.ctx.svc, self.influx, self.ctx.stations_of(s))
        now = now_ms(self.ctx.svc)
        cards = []
        for v in views:
            st = v.station
            cards.append(
                f'<li class="card {v.state}" data-station="{e(st.id)}">'
                f'<h2><a href="/s/{quote(st.id)}">{e(st.name)}</a> '
                f"<small>{e(st.id)} · {e(st.district)}</small></h2>"
                f'<p><b class="badge {v.state}">{e(w[v.state])}</b> '
                f"{e(w['battery'])} {dash(v.battery_pct, '{:.0f}%')} · {e(w['autonomy'])} "
                f"{e(days(w, v.battery_days))} · {e(w['water'])} {e(days(w, v.water_days))} · "
                f"{e(w['seen'])} {e(w.ago(v.last_seen_ms, now))}</p>"
                f"{alert_line(self.ctx, w, v, now)}</li>"
            )
        districts = ", ".join(sorted(s.who.districts or ()))
        body = (
            f"<h1>{e(w['stations'])}</h1><p>{e(w.f('districts', d=districts))}</p>"
            f'<ol class="stations">{"".join(cards)}</ol>'
        )
        return page(w, f"SolarWater · {w['stations']}", body, session=s, here="/")

    async def map(self, request: web.Request) -> web.Response:
        s = await self.ctx.require(request)
        w = self.ctx.words(request)
        views = await station_views(self.ctx.svc, self.influx, self.ctx.stations_of(s))
        body = (
            f"<h1>{e(w['map'])}: Cabo Delgado</h1>{province_map(views, 'Cabo Delgado')}"
            f"<p>{e(w['legend'])}</p>"
        )
        return page(w, f"SolarWater · {w['map']}", body, session=s, here="/map")
