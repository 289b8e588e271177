"""grafanalib objects to the JSON Grafana 11 imports: no nulls, no pre-8 leftovers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Annotations, Dashboard, Panel, Templating, Time

from dashboards.datasource import ds_ref
from dashboards.influxql import INTERVAL, RP_VARIABLE
from dashboards.interpolate import parse_duration_ms
from dashboards.provisioning import MIN_INTERVAL
from dashboards.templating import bucket_name, bucket_variable, resolution_variable
from devices import schema
from devices.fieldinfo import Lang

Json = dict[str, Any]

SCHEMA_VERSION = 39
COARSEST_BUCKET_MS = parse_duration_ms(schema.DAILY_INTERVAL)
TIMEZONE = "Africa/Maputo"
# Keys grafanalib 0.7.1 writes that Grafana 8+ no longer reads (graph-era panel and dashboard).
_OLD_PANEL_KEYS = frozenset(
    {"error", "height", "span", "minSpan", "editable", "columns", "fontSize", "mappings", "color"}
)
_OLD_DASHBOARD_KEYS = frozenset(
    {"__inputs", "rows", "hideControls", "sharedCrosshair", "style", "gnetId", "id"}
)

BUILTIN_ANNOTATION: Json = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
    "target": {"limit": 100, "matchAny": False, "tags": [], "type": "dashboard"},
}


def board_uid(base: str, lang: Lang) -> str:
    """A board's uid in `lang`: Portuguese, provisioned by default, keeps the base uid."""
    return base if lang == "pt" else f"{base}-{lang}"


def _resolution(panels: Sequence[Panel]) -> list[Any]:
    """`$rp` when a panel reads readings (influxql.source), and the `$bucket` variables.

    A panel that reads through `$rp` and buckets by `$__interval` gets `$bucket` (or
    `$bucket_<its own min interval>`) as its min interval, so its buckets are never finer
    than the policy the range reads.
    """
    ref = "$" + RP_VARIABLE
    readers = [p for p in panels if any(ref in t.query for t in getattr(p, "targets", []))]
    if not readers:
        return []
    floors: dict[str, int] = {}
    for panel in readers:
        if not any(INTERVAL in t.query for t in panel.targets):
            continue
        floor = panel.interval or MIN_INTERVAL
        floor_ms = parse_duration_ms(floor)
        if floor_ms >= COARSEST_BUCKET_MS:  # no policy is coarser than the panel's own floor
            continue
        floors[floor] = floor_ms
        panel.interval = "$" + bucket_name(floor)
    return [resolution_variable(), *(bucket_variable(f, ms) for f, ms in sorted(floors.items()))]


def make_dashboard(
    *,
    uid: str,
    lang: Lang,
    title: str,
    description: str,
    panels: Sequence[Panel],
    variables: Sequence[Any] = (),
    annotations: Sequence[Json] = (),
    time_from: str = "now-24h",
) -> Dashboard:
    """A dashboard with the settings every SolarWater dashboard shares; `uid` is the base uid."""
    return Dashboard(
        title=title,
        uid=board_uid(uid, lang),
        description=description,
        tags=["solarwater", lang],
        panels=list(panels),
        templating=Templating(list=[*_resolution(panels), *variables]),
        annotations=Annotations(list=[BUILTIN_ANNOTATION, *annotations]),
        time=Time(time_from, "now"),
        timezone=TIMEZONE,
        refresh="1m",
        graphTooltip=1,
        schemaVersion=SCHEMA_VERSION,
        editable=True,
        version=1,
    )


def _prune(value: Any) -> Any:
    """Drop null members recursively, keeping a threshold step's null base value."""
    if isinstance(value, dict):
        is_step = set(value) == {"color", "value"}
        return {
            k: _prune(v) for k, v in value.items() if v is not None or (is_step and k == "value")
        }
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _fix_steps(panel: Json) -> None:
    steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps")
    if not isinstance(steps, list):
        raise ValueError(f"panel {panel.get('title')!r} has no threshold steps")
    for i, step in enumerate(steps):
        if step.get("value") == "null" or i == 0:
            step["value"] = None


def _fix_panel(panel: Json) -> Json:
    out = {k: v for k, v in panel.items() if k not in _OLD_PANEL_KEYS}
    if not out.get("repeat"):
        for key in ("repeat", "repeatDirection", "maxPerRow"):
            out.pop(key, None)
    _fix_steps(out)
    out["datasource"] = ds_ref()
    return out


def render(dashboard: Dashboard) -> Json:
    """The dashboard as Grafana 11 JSON."""
    raw = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    data: Json = _prune(raw)
    for key in _OLD_DASHBOARD_KEYS:
        data.pop(key, None)
    data["panels"] = [_fix_panel(p) for p in data["panels"]]
    if data.get("schemaVersion", 0) < SCHEMA_VERSION:
        raise ValueError(f"dashboard {data.get('uid')}: schemaVersion below {SCHEMA_VERSION}")
    return data
