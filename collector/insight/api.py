"""`GET /stations/{id}/insight`: a station's forecasts, leak, catchment, silence cause and
completeness, as the insight job last computed them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from collector.insight.job import InsightJob


class InsightApi:
    """Read-only: the figures are public to whoever may read the collector's HTTP."""

    def __init__(self, job: InsightJob) -> None:
        self.job = job

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/stations/{id}/insight", self.station)

    async def station(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        if self.job.fleet.get(sid) is None:
            raise web.HTTPNotFound(text=f"no station {sid!r} in the registry\n")
        return web.json_response(self.view(sid))

    def view(self, sid: str) -> dict[str, Any]:
        fig = self.job.latest.get(sid)
        body: dict[str, Any] = fig.to_json() if fig is not None else {"station": sid}
        body["silence_cause_if_quiet"] = self.job.causes.get(sid)
        days = self.job.completeness.get(sid, {})
        body["completeness"] = [
            {"day": d.isoformat(), "expected": c.expected, "received": c.received, "pct": c.pct}
            for d, c in sorted(days.items())[-7:]
        ]
        return body
