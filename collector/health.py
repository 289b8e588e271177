"""/healthz: the collector's state, read from the parts' own state."""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collector.alerts import AlertService
from collector.broker.link import Source
from collector.config import Settings
from collector.ingest.quarantine import Quarantine
from collector.metrics import Metrics
from collector.store.spool import Spool
from collector.store.writer import Writer
from collector.supervise import Supervisor

SESSION_LOST_WARN_S = 86400.0  # /healthz names a lost MQTT session this long after the loss


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def redact_url(url: str) -> str:
    """An HTTP URL with any password in it replaced, for health output and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class HealthParts:
    """The parts whose state /healthz reports."""

    settings: Settings
    source: Source
    writer: Writer
    spool: Spool
    quarantine: Quarantine
    supervisor: Supervisor
    metrics: Metrics
    alerts: AlertService | None
    stations_seen: set[str]
    started_at: float
    events_writer: Writer | None = None  # the alert transitions' own (where the engine runs)


def health(p: HealthParts) -> tuple[bool, dict[str, Any]]:
    """(healthy, details) for /healthz."""
    now = time.time()
    src, w = p.source, p.writer
    problems = []
    if not src.connected:
        problems.append("not connected to the MQTT broker")
    quiet_for = now - (src.last_message_at or src.connected_since or p.started_at)
    no_traffic = src.connected and quiet_for > p.settings.mqtt.no_traffic_warn_s
    if no_traffic:
        problems.append(f"connected but no traffic for {int(quiet_for)} s")
    if not w.influx_up:
        problems.append("InfluxDB unreachable: readings go to the disk spool")
    if w.spool_blocked:
        problems.append(f"{w.spool_problem}: acknowledgements held, broker is buffering")
    ev = p.events_writer
    if ev is not None and not ev.influx_up:
        # no acknowledgement waits on them: degraded, not failing
        problems.append(f"alert points not written ({ev.last_error}): kept in their spool")
    if ev is not None and ev.spool_blocked:
        problems.append(f"alert points: {ev.spool_problem}")
    if src.session_lost_at and now - src.session_lost_at < SESSION_LOST_WARN_S:
        problems.append(f"mqtt session lost at {_iso(src.session_lost_at)}")
    failing = p.supervisor.failing()
    problems += [f"task {name} failed: {error}" for name, error in failing.items()]
    if p.quarantine.last_error:
        problems.append(f"quarantine cannot write: {p.quarantine.last_error}")
    healthy = src.connected and not w.spool_blocked and not failing
    return healthy, {
        "status": "ok" if not problems else ("degraded" if healthy else "failing"),
        "problems": problems,
        "instance": p.settings.instance,
        "uptime_s": round(now - p.started_at, 1),
        "mqtt": {
            "url": src.url.redacted(),
            "connected": src.connected,
            "connects": src.connects,
            "subscriptions": src.subscriptions,
            "seconds_since_last_message": round(quiet_for, 1),
            "last_error": src.last_error,
            "packets_too_large": src.packets_too_large,
            "sessions_lost": src.sessions_lost,
            "session_lost_at": _iso(src.session_lost_at) if src.session_lost_at else None,
            "sessions_taken_over": src.sessions_taken_over,
        },
        "influx": {
            "api": p.settings.influx.api,
            "url": redact_url(p.settings.influx.url),
            "up": w.influx_up,
            "seconds_since_last_write": round(now - w.last_write_ok, 1)
            if w.last_write_ok
            else None,
            "last_error": w.last_error,
        },
        "spool": {
            "bytes": p.spool.bytes,
            "readings": p.spool.readings,
            "max_bytes": p.spool.max_bytes,
            "blocked": w.spool_blocked,
            "append_errors": p.spool.append_errors,
            "last_error": p.spool.last_error,
        },
        "events_spool": None
        if ev is None
        else {"bytes": ev.spool.bytes, "blocked": ev.spool_blocked, "up": ev.influx_up},
        "tasks": p.supervisor.report(),
        "quarantine": {
            "write_errors": p.quarantine.write_errors,
            "last_error": p.quarantine.last_error,
        },
        "counters": dict(p.metrics.counters),
        "stations_seen": len(p.stations_seen),
        "alerts": p.alerts.stats() if p.alerts is not None else None,
    }
