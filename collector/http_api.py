"""The collector's HTTP server: /healthz, /metrics, /quarantine, /devices, plus alert routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from collector.alerts import AlertService
from collector.ingest.clockskew import ClockSkew
from collector.ingest.quarantine import Quarantine
from collector.ingest.seqtrack import SeqTracker
from collector.metrics import Metrics


@dataclass(frozen=True, slots=True)
class HttpParts:
    """What the routes read: the parts themselves, not the collector that wires them."""

    health: Callable[[], tuple[bool, dict[str, Any]]]
    metrics: Metrics
    alerts: AlertService | None
    quarantine: Quarantine
    seq: SeqTracker
    # devices reporting a fault of their own (a GX tank sensor), beside the seq rows
    faults: Callable[[], list[dict[str, Any]]] = list
    clock: ClockSkew | None = None


COLLECTOR_KEY: web.AppKey[HttpParts] = web.AppKey("collector")


async def healthz(request: web.Request) -> web.Response:
    healthy, body = request.app[COLLECTOR_KEY].health()
    return web.json_response(body, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[COLLECTOR_KEY].metrics.prometheus()
    return web.Response(
        body=body,
        headers={"Content-Type": CONTENT_TYPE_LATEST, "X-Content-Type-Options": "nosniff"},
    )


async def quarantine(request: web.Request) -> web.Response:
    c = request.app[COLLECTOR_KEY]
    try:
        limit = max(1, min(int(request.query.get("limit", "100")), 10_000))
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be an integer") from None
    entries = c.quarantine.query(limit, request.query.get("reason"))
    return web.json_response(
        {
            "total": c.quarantine.total,
            "file": str(c.quarantine.path),
            "by_reason": c.metrics.rejected_by_reason(),
            "entries": entries,
        }
    )


async def devices(request: web.Request) -> web.Response:
    c = request.app[COLLECTOR_KEY]
    return web.json_response({"devices": device_rows(c.seq, c.clock), "faults": c.faults()})


def device_rows(seq: SeqTracker, clock: ClockSkew | None) -> list[dict[str, Any]]:
    """Per device: its seq bookkeeping and its clock (either may be missing: null)."""
    no_clock = {
        "clock_offset_s": None,
        "clock_correction_s": 0.0,
        "clock_live_samples": 0,
        "clock_backlog_messages": 0,
    }
    rows: dict[tuple[str, str], dict[str, Any]] = {
        (str(r["station"]), str(r["device"])): {**r, **no_clock} for r in seq.report()
    }
    if clock is not None:
        no_seq = {"last_seq": None, "duplicates": 0, "gaps": 0, "missing": 0, "seq_resets": 0}
        for key, fields in clock.report().items():
            row = rows.get(key)
            if row is None:
                row = rows[key] = {"station": key[0], "device": key[1], **no_seq}
            row.update(fields)
    return [rows[k] for k in sorted(rows)]


def build_app(parts: HttpParts) -> web.Application:
    """The aiohttp application with the collector's own routes."""
    app = web.Application(client_max_size=64 * 1024)
    app[COLLECTOR_KEY] = parts
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/quarantine", quarantine)
    app.router.add_get("/devices", devices)
    return app
