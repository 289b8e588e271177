"""A station's page: figures, 48 h charts, devices, alerts with ack and silence, history."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from collector.alerts.model import Alert
from collector.alerts.store import Silence
from collector.web.charts import Point, line_chart
from collector.web.context import WebContext
from collector.web.csrf import checked_form
from collector.web.fleet_view import StationView, now_ms, station_views
from collector.web.html import csrf_field, dash, e, page
from collector.web.i18n import Words
from collector.web.influxql import InfluxQL, Series
from collector.web.influxql import quote as q
from collector.web.pages_stations import alert_line
from collector.web.sessions import Session
from devices.catalogue import KINDS

SPAN_MS = 48 * 3600 * 1000
BUCKET = "30m"  # 97 points per chart at most
SILENCE_MS = 4 * 3600 * 1000
# the three charts (kind, field, how a station's devices combine): fields of the catalogue,
# so their labels and units come from it; a kind or field it loses fails at import
CHARTS = (
    ("solar", "battery_soc_pct", "mean"),
    ("solar", "pv_power_w", "sum"),
    ("tank", "level_pct", "mean"),
)
assert all(field in KINDS[kind].info for kind, field, _ in CHARTS)
HISTORY = 20


def _series(rows: list[Series], col: str, combine: str) -> list[Point]:
    """One chart series from per-device buckets: their mean or their sum at each time."""
    by_t: dict[int, list[float]] = {}
    for s in rows:
        for r in s.rows:
            t, v = r.get("time"), r.get(col)
            if isinstance(t, int):
                vals = by_t.setdefault(t, [])
                if isinstance(v, int | float):
                    vals.append(float(v))
    out: list[Point] = []
    for t in sorted(by_t):
        vals = by_t[t]
        if not vals:
            out.append((t, None))
        else:
            out.append((t, sum(vals) if combine == "sum" else sum(vals) / len(vals)))
    return out


def unit_of(unit: str) -> str:
    return f" {unit}" if unit else ""


def _offset(row: dict[str, Any]) -> float | None:
    """The device's clock offset as /devices reports it (None until it is known)."""
    v = row.get("clock_offset_s")
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


class StationPage:
    """GET /s/{station}; POST /alert/{id}/ack and /alert/{id}/silence from its buttons."""

    def __init__(self, ctx: WebContext, influx: InfluxQL) -> None:
        self.ctx = ctx
        self.influx = influx

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/s/{station}", self.show)
        app.router.add_post("/alert/{id}/ack", self.ack)
        app.router.add_post("/alert/{id}/silence", self.silence)

    async def show(self, request: web.Request) -> web.Response:
        s = await self.ctx.require(request)
        w = self.ctx.words(request)
        st = self.ctx.station_for(s, request.match_info["station"])
        (view,) = await station_views(self.ctx.svc, self.influx, [st])
        now = now_ms(self.ctx.svc)
        end = view.last_seen_ms if view.last_seen_ms is not None else now
        start = end - SPAN_MS
        where = f"station = {q(st.id)} AND time > {start}ms AND time <= {end}ms"
        answers = await self.influx.query(
            *(
                f'SELECT mean("{field}") AS v FROM "{kind}" WHERE {where} '
                f"GROUP BY time({BUCKET}), device"
                for kind, field, _ in CHARTS
            ),
            *(
                f'SELECT last(*) FROM "{k}" WHERE station = {q(st.id)} '
                f"AND time > {end - 7 * 86400_000}ms GROUP BY device"
                for k in KINDS
            ),
        )
        charts = "".join(
            self._chart(w, kind, field, _series(rows, "v", combine), start, end)
            for (kind, field, combine), rows in zip(CHARTS, answers, strict=False)
        )
        last = answers[len(CHARTS) :]
        alerts = await self.ctx.svc.history(HISTORY, st.id, None, None)
        body = (
            self._head(w, view, now)
            + self._active(w, s, view, now)
            + f'<h2>{e(w["last48"])}</h2><div class="charts">{charts}</div>'
            + self._devices(w, st.id, last, now)
            + self._history(w, alerts, now)
        )
        return page(w, f"{st.name} · SolarWater", body, session=s, here=f"/s/{quote(st.id)}")

    @staticmethod
    def _chart(w: Words, kind: str, field: str, pts: list[Point], start: int, end: int) -> str:
        info = KINDS[kind].info[field]
        title = f"{info.label(w.lang)} ({info.unit})" if info.unit else info.label(w.lang)
        if not any(v is not None for _, v in pts):
            return f"<figure><figcaption>{e(title)}</figcaption><p>{e(w['no_data'])}</p></figure>"
        high = 100.0 if info.unit == "%" else None  # a power axis follows its data
        return line_chart(title, pts, start, end, 0.0, high)

    def _head(self, w: Words, v: StationView, now: int) -> str:
        st = v.station
        days = "—" if v.battery_days is None else w.f("days", n=f"{v.battery_days:.1f}")
        water = "—" if v.water_days is None else w.f("days", n=f"{v.water_days:.1f}")
        return (
            f"<h1>{e(st.name)}</h1><p>{e(st.id)} · {e(st.district)}</p>"
            f'<p><b class="badge {v.state}">{e(w[v.state])}</b> {e(w["battery"])} '
            f"{dash(v.battery_pct, '{:.0f}%')} · {e(w['autonomy'])} {e(days)} · {e(w['water'])} "
            f"{e(water)} · {e(w['seen'])} {e(w.ago(v.last_seen_ms, now))}</p>"
        )

    def _active(self, w: Words, s: Session, v: StationView, now: int) -> str:
        out = [f"<h2>{e(w['alerts'])}</h2>", alert_line(self.ctx, w, v, now)]
        for a in v.alerts:
            title = e(self.ctx.svc.messages.title(a.rule))
            buttons = []
            if a.acked_ms is None:
                buttons.append(
                    f'<form method="post" action="/alert/{a.id}/ack" data-confirm="">'
                    f'{csrf_field(s.csrf)}<button type="submit" name="ack" value="{a.id}">'
                    f"{e(w['ack'])}: {title}</button></form>"
                )
            buttons.append(
                f'<form method="post" action="/alert/{a.id}/silence" data-confirm="">'
                f'{csrf_field(s.csrf)}<button type="submit" class="sec">'
                f"{e(w['silence'])}: {title}</button></form>"
            )
            out.append(f'<div class="acts">{"".join(buttons)}</div>')
        return "".join(out)

    def _devices(self, w: Words, station: str, last: list[list[Series]], now: int) -> str:
        report = {
            str(r.get("device")): r for r in self.ctx.devices() if r.get("station") == station
        }
        rows = []
        for kind, series in zip(KINDS.values(), last, strict=True):
            for sr in series:
                dev = sr.tags.get("device", "?")
                r = sr.rows[0] if sr.rows else {}
                fields = []
                for name, info in kind.info.items():
                    v = r.get(f"last_{name}")
                    if v is None:
                        continue
                    shown = f"{v:.4g}" if isinstance(v, float) else str(v)
                    fields.append(f"{e(info.label(w.lang))} {e(shown)}{e(unit_of(info.unit))}")
                off = _offset(report.get(dev, {}))
                offset = "—" if off is None else f"{off:+.0f} s"
                t = r.get("time")
                seen = w.ago(t if isinstance(t, int) else None, now)
                rows.append(
                    f"<li><b>{e(dev)}</b> ({e(kind.name)}) · {e(w['clock'])} {e(offset)} · "
                    f"{e(w['seen'])} {e(seen)}<br><small>{' · '.join(fields)}</small></li>"
                )
        if not rows:
            rows.append(f"<li>{e(w['no_data'])}</li>")
        return f'<h2>{e(w["devices"])}</h2><ul class="dev">{"".join(rows)}</ul>'

    def _history(self, w: Words, alerts: list[Alert], now: int) -> str:
        m = self.ctx.svc.messages
        items = [
            f'<li class="{e(a.severity)}"><a href="/alert/{a.id}">#{a.id} '
            f"{e(m.title(a.rule))}</a> · {e(w['firing'] if a.state == 'firing' else w['resolved'])}"
            f" · {e(m.local(a.since_ms, now))}"
            + (f" · {e(w.f('acked', by=a.acked_by or '-'))}" if a.acked_ms is not None else "")
            + "</li>"
            for a in alerts
        ]
        return f'<h2>{e(w["history"])}</h2><ul class="hist">{"".join(items) or e(w["none"])}</ul>'

    async def _alert_of(self, request: web.Request) -> tuple[Session, Alert]:
        s = await self.ctx.require(request)
        await checked_form(request, s, self.ctx.counts)
        try:
            a = await self.ctx.svc.get_alert(int(request.match_info["id"]))
        except ValueError:
            a = None
        if a is None:
            raise web.HTTPNotFound(text="no such alert")
        self.ctx.station_for(s, a.station)
        return s, a

    async def ack(self, request: web.Request) -> web.Response:
        s, a = await self._alert_of(request)
        await self.ctx.svc.ack(a.id, s.who.name, via="web")
        raise web.HTTPSeeOther(f"/s/{quote(a.station)}")

    async def silence(self, request: web.Request) -> web.Response:
        s, a = await self._alert_of(request)
        now = int(self.ctx.svc.clock() * 1000)
        sil = Silence(0, a.station, a.rule, now, now + SILENCE_MS, now, s.who.name, "web")
        await self.ctx.svc.add_silence(sil, via="web")
        raise web.HTTPSeeOther(f"/s/{quote(a.station)}")
