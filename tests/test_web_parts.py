"""The pages' parts: the province outline holds the fleet, charts break at gaps and stay
bounded, relative times, the language switch's redirect, cookie flags, InfluxDB absent."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from collector.alerts.service import AlertService
from collector.alerts.settings import AlertSettings
from collector.alerts.technicians import TechnicianSettings, new_token, token_hash
from collector.auth_limit import AuthLimiter, AuthLimitSettings
from collector.web.app import mount_web
from collector.web.charts import MAX_POINTS, line_chart
from collector.web.i18n import Words
from collector.web.influxql import InfluxQL
from collector.web.map_svg import OUTLINE
from collector.web.pages_auth import _safe_next
from collector.web.settings import WebSettings
from devices.stations import load_fleet
from devstack import free_port


def inside(lon: float, lat: float, poly: tuple[tuple[float, float], ...]) -> bool:
    """Ray casting: is the point inside the polygon?"""
    hit = False
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1], strict=True):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def test_every_sample_station_lies_inside_the_outline_and_the_sea_does_not() -> None:
    for s in load_fleet().stations:
        assert inside(s.longitude, s.latitude, OUTLINE), s.id
    assert not inside(41.0, -12.0, OUTLINE)  # the Indian Ocean
    assert not inside(39.5, -10.5, OUTLINE)  # Tanzania, north of the Rovuma
    assert not inside(38.0, -12.5, OUTLINE)  # Niassa, west of the Lugenda


def test_a_chart_breaks_at_gaps_and_thins_long_series() -> None:
    pts = [(0, 10.0), (1, 20.0), (2, None), (3, 30.0), (4, 40.0)]
    svg = line_chart("<b>t</b>", pts, 0, 4, 0.0, 100.0)
    assert svg.count('class="ln"') == 2 and "&lt;b&gt;" in svg and "<b>" not in svg
    long = [(t, float(t % 7)) for t in range(5000)]
    drawn = line_chart("x", long, 0, 5000, 0.0, None)
    assert len(re.findall(r"[ML]\d", drawn)) <= MAX_POINTS + 1


def test_relative_times_in_both_languages() -> None:
    pt, en = Words("pt"), Words("en")
    h = 3600_000
    assert pt.ago(0, 3 * h) == "há 3 h" and en.ago(0, 3 * h) == "3 h ago"
    assert pt.ago(0, 10_000) == "agora" and pt.ago(None, 0) == "nunca"
    assert en.ago(0, 5 * 86400_000) == "5 d ago"


def test_language_switch_redirects_only_within_the_site() -> None:
    assert _safe_next("/s/PEMBA-01") == "/s/PEMBA-01"
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil", None, ""):
        assert _safe_next(bad) == "/"


async def test_cookie_is_secure_by_default_and_figures_are_absent_without_influxdb(
    tmp_path: Path,
) -> None:
    """The pages on an alert service that never started, and an InfluxDB that is not there."""
    token = new_token()
    tech = TechnicianSettings(name="Ana", districts=("Pemba",), token_sha256=token_hash(token))
    svc = AlertService(
        AlertSettings(technicians=(tech,)), load_fleet(), tmp_path,
        write_lines=lambda lines: None, mqtt_publish=None,
    )  # fmt: skip
    reader = InfluxQL(f"http://127.0.0.1:{free_port()}", "solarwater", None, 2.0)
    app = web.Application()
    limiter = AuthLimiter(AuthLimitSettings())
    ctx = mount_web(app, svc, WebSettings(enabled=True), reader, list, tmp_path / "web", limiter)
    try:
        async with TestClient(TestServer(app)) as client:
            resp = await client.post("/signin", data={"token": token}, allow_redirects=False)
            cookie = resp.headers["Set-Cookie"]
            assert resp.status == 303 and "Secure" in cookie and "HttpOnly" in cookie
            sid = re.search(r"sw_session=([^;]+)", cookie)
            assert sid
            resp = await client.get("/", headers={"Cookie": f"sw_session={sid.group(1)}"})
            html = await resp.text()
            assert resp.status == 200 and html.count('class="card ') == 2  # Pemba's two
            assert "Bateria —" in html and reader.errors == 1  # one request, counted
            assert ctx.stats()["web_query_errors"] == 1
            resp = await client.post("/signin", data={"token": "swt_wrong"})
            assert resp.status == 401 and ctx.stats()["web_signins_refused"] == 1
    finally:
        await reader.close()
