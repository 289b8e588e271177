"""Panel builders for the shapes the dashboards repeat, with the grafanalib 0.7.1 gaps filled.

grafanalib 0.7.1 writes a gauge/bar gauge in the pre-7 `fieldOptions` shape, has no geomap,
leaves required Grafana 11 options out (legend.showLegend, stat wideLayout, table frameIndex...)
and puts "null" strings in thresholds; every builder here writes the Grafana 11 shape instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grafanalib.core import (
    BarGauge,
    GaugePanel,
    GridPos,
    Panel,
    Stat,
    StateTimeline,
    Table,
    TimeSeries,
)
from grafanalib.influxdb import InfluxDBTarget

from dashboards.datasource import ds_ref

Json = dict[str, Any]
Step = tuple[str, float | None]

# Default number of points a time-series panel asks for: one per 5-minute reading over 24 h.
SERIES_POINTS = 300
# Tables, stats and the map reduce the whole range to one row per station (no $__interval);
# the number only bounds what Grafana asks for.
SUMMARY_POINTS = 50


def thresholds(*steps: Step) -> Json:
    """Absolute thresholds; the first step is the base (value null = -Infinity in Grafana)."""
    out = [{"color": color, "value": value} for color, value in steps]
    out[0]["value"] = None
    return {"mode": "absolute", "steps": out}


SOC = thresholds(("red", None), ("yellow", 30), ("green", 50))
TANK_LEVEL = thresholds(("red", None), ("yellow", 20), ("green", 40))
DAYS_LEFT = thresholds(("red", None), ("yellow", 3), ("green", 7))
COUNT_BAD = thresholds(("green", None), ("red", 1))
COUNT_WARN = thresholds(("green", None), ("yellow", 1))
NEUTRAL = thresholds(("green", None))


def _defaults(unit: str, steps: Json, **extra: Any) -> Json:
    return {"fieldConfig": {"defaults": {"unit": unit, "thresholds": steps, **extra}}}


def _merge(base: Json, extra: Json | None) -> Json:
    out = dict(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _common(
    title: str,
    targets: Sequence[InfluxDBTarget],
    description: str,
    max_points: int,
    interval: str | None,
) -> dict[str, Any]:
    return {
        "title": title,
        "targets": list(targets),
        "description": description,
        "dataSource": ds_ref(),
        "maxDataPoints": max_points,
        "interval": interval,
    }


def timeseries(
    title: str,
    targets: Sequence[InfluxDBTarget],
    *,
    unit: str,
    description: str = "",
    steps: Json = NEUTRAL,
    interval: str | None = None,
    max_points: int = SERIES_POINTS,
    bars: bool = False,
    min_value: float | None = None,
    max_value: float | None = None,
    show_thresholds: bool = False,
    overrides: Sequence[Json] = (),
    extra: Json | None = None,
) -> TimeSeries:
    """A time-series panel; `bars` for per-interval totals (daily yield, rain, consumption)."""
    limits = {k: v for k, v in (("min", min_value), ("max", max_value)) if v is not None}
    custom: Json = {
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 60 if bars else 10,
        "spanNulls": False,
        "showPoints": "never",
        "thresholdsStyle": {"mode": "dashed" if show_thresholds else "off"},
        "stacking": {"mode": "none", "group": "A"},
    }
    fix = _merge(
        _defaults(unit, steps, custom=custom, **limits),
        {
            "fieldConfig": {"overrides": list(overrides)},
            "options": {
                "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
                "tooltip": {"mode": "multi", "sort": "desc"},
            },
        },
    )
    return TimeSeries(
        **_common(title, targets, description, max_points, interval),
        unit=unit,
        extraJson=_merge(fix, extra),
    )


def stat(
    title: str,
    targets: Sequence[InfluxDBTarget],
    *,
    unit: str = "none",
    steps: Json = NEUTRAL,
    description: str = "",
    no_value: str | None = None,
    calc: str = "lastNotNull",
    color_mode: str = "background",
    max_points: int = SUMMARY_POINTS,
    decimals: int | None = None,
) -> Stat:
    """A single big number reduced with `calc`; `no_value` says what an empty answer means."""
    extra: Json = {"decimals": decimals} if decimals is not None else {}
    if no_value is not None:
        extra["noValue"] = no_value
    options: Json = {
        "graphMode": "none",
        "colorMode": color_mode,
        "justifyMode": "auto",
        "textMode": "value",
        "wideLayout": True,
        "showPercentChange": False,
        "percentChangeColorMode": "standard",
        "orientation": "auto",
        "reduceOptions": {"calcs": [calc], "fields": "", "values": False},
    }
    return Stat(
        **_common(title, targets, description, max_points, None),
        format=unit,
        reduceCalc=calc,
        extraJson=_merge(
            _defaults(unit, steps, color={"mode": "thresholds"}, **extra), {"options": options}
        ),
    )


def table(
    title: str,
    targets: Sequence[InfluxDBTarget],
    *,
    description: str = "",
    transformations: Sequence[Json] = (),
    overrides: Sequence[Json] = (),
    sort_by: str | None = None,
    sort_desc: bool = False,
    max_points: int = SUMMARY_POINTS,
    unit: str = "none",
) -> Table:
    """A table (InfluxQL table-format targets), with transformations to join per-station rows."""
    options: Json = {
        "showHeader": True,
        "frameIndex": 0,
        "cellHeight": "sm",
        "footer": {"show": False, "reducer": ["sum"], "countRows": False},
        "sortBy": [{"displayName": sort_by, "desc": sort_desc}] if sort_by else [],
    }
    custom: Json = {
        "align": "auto",
        "inspect": False,
        "filterable": False,
        "cellOptions": {"type": "auto"},
    }
    return Table(
        **_common(title, targets, description, max_points, None),
        transformations=list(transformations),
        extraJson=_merge(
            _defaults(unit, NEUTRAL, custom=custom),
            {"fieldConfig": {"overrides": list(overrides)}, "options": options},
        ),
    )


def state_timeline(
    title: str,
    targets: Sequence[InfluxDBTarget],
    *,
    mappings: Sequence[Json],
    description: str = "",
    interval: str | None = None,
    max_points: int = SERIES_POINTS,
) -> StateTimeline:
    """A state timeline of string states, coloured by value mappings."""
    return StateTimeline(
        **_common(title, targets, description, max_points, interval),
        mappings=list(mappings),
        colorMode="fixed",
        extraJson=_merge(
            _defaults("none", NEUTRAL, color={"mode": "fixed", "fixedColor": "text"}),
            {
                "options": {
                    "showValue": "auto",
                    "rowHeight": 0.9,
                    "mergeValues": True,
                    "alignValue": "left",
                    "legend": {
                        "showLegend": True,
                        "displayMode": "list",
                        "placement": "bottom",
                        "calcs": [],
                    },
                    "tooltip": {"mode": "single", "sort": "none"},
                }
            },
        ),
    )


def value_mappings(colors: dict[str, str]) -> list[Json]:
    """A value-to-colour mapping for string states (charge state, alert state)."""
    options = {
        value: {"color": color, "index": i, "text": value}
        for i, (value, color) in enumerate(colors.items())
    }
    return [{"type": "value", "options": options}]


def _reduce(calc: str, values: bool = False) -> Json:
    return {"calcs": [calc], "fields": "", "values": values}


def _threshold_field_config(panel: Any) -> Json:
    """Field config shared by the gauge shapes: unit, range and colour by thresholds."""
    return {
        "defaults": {
            "unit": panel.unit,
            "min": panel.min,
            "max": panel.max,
            "decimals": panel.decimals,
            "thresholds": panel.steps,
            "color": {"mode": "thresholds"},
            "mappings": [],
        },
        "overrides": [],
    }


class Gauge(GaugePanel):  # type: ignore[misc]
    """GaugePanel in the Grafana 8+ shape (grafanalib 0.7.1 puts the options in fieldConfig)."""

    steps: Json = NEUTRAL
    unit: str = "none"

    def to_json_data(self) -> Json:
        return self.panel_json(  # type: ignore[no-any-return]
            {
                "type": "gauge",
                "fieldConfig": _threshold_field_config(self),
                "options": {
                    "reduceOptions": _reduce(self.calc),
                    "showThresholdLabels": self.thresholdLabels,
                    "showThresholdMarkers": self.thresholdMarkers,
                    "sizing": "auto",
                    "minVizWidth": 75,
                    "minVizHeight": 75,
                    "orientation": "auto",
                },
            }
        )


class BarGaugePanel(BarGauge):  # type: ignore[misc]
    """BarGauge in the Grafana 8+ shape (grafanalib 0.7.1 writes the pre-7 `fieldOptions`)."""

    steps: Json = NEUTRAL
    unit: str = "none"

    def to_json_data(self) -> Json:
        return self.panel_json(  # type: ignore[no-any-return]
            {
                "type": "bargauge",
                "fieldConfig": _threshold_field_config(self),
                "options": {
                    "reduceOptions": _reduce(self.calc, self.allValues),
                    "displayMode": self.displayMode,
                    "valueMode": "color",
                    "namePlacement": "auto",
                    "showUnfilled": True,
                    "sizing": "auto",
                    "minVizWidth": 8,
                    "minVizHeight": 16,
                    "maxVizHeight": 300,
                    "orientation": self.orientation,
                    "legend": {
                        "showLegend": False,
                        "displayMode": "list",
                        "placement": "bottom",
                        "calcs": [],
                    },
                },
            }
        )


def gauge(
    title: str,
    targets: Sequence[InfluxDBTarget],
    *,
    unit: str,
    steps: Json,
    min_value: float = 0,
    max_value: float = 100,
    description: str = "",
    max_points: int = SUMMARY_POINTS,
) -> Gauge:
    """A gauge of the latest value."""
    panel = Gauge(
        **_common(title, targets, description, max_points, None),
        calc="lastNotNull",
        min=min_value,
        max=max_value,
    )
    panel.steps, panel.unit = steps, unit
    return panel


def bargauge(
    title: str,
    targets: Sequence[InfluxDBTarget],
    *,
    unit: str,
    steps: Json,
    min_value: float = 0,
    max_value: float | None = None,
    description: str = "",
    transformations: Sequence[Json] = (),
    max_points: int = SUMMARY_POINTS,
    rows: bool = False,
) -> BarGaugePanel:
    """Horizontal bars, one per series, or one per table row with `rows`."""
    panel = BarGaugePanel(
        **_common(title, targets, description, max_points, None),
        calc="lastNotNull",
        min=min_value,
        max=max_value,
        displayMode="gradient",
        orientation="horizontal",
        allValues=rows,
        transformations=list(transformations),
    )
    panel.steps, panel.unit = steps, unit
    return panel


class GeoMap(Panel):  # type: ignore[misc]
    """Geomap panel (grafanalib 0.7.1 has none): station markers coloured by a numeric field."""

    color_field: str = "score"
    text_field: str = "station"
    steps: Json = NEUTRAL
    center: tuple[int, int] = (-12, 40)  # the schema types the view's lat/lon as integers
    zoom: int = 7

    def to_json_data(self) -> Json:
        lat, lon = self.center
        markers = {
            "type": "markers",
            "name": "Stations",
            "tooltip": True,
            "location": {"mode": "coords", "latitude": "latitude", "longitude": "longitude"},
            "config": {
                "showLegend": True,
                "style": {
                    "color": {"field": self.color_field, "fixed": "dark-green"},
                    "size": {"fixed": 9, "min": 4, "max": 15},
                    "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
                    "text": {"mode": "field", "field": self.text_field, "fixed": ""},
                    "textConfig": {
                        "fontSize": 11,
                        "offsetX": 0,
                        "offsetY": -12,
                        "textAlign": "center",
                        "textBaseline": "bottom",
                    },
                },
            },
        }
        return self.panel_json(  # type: ignore[no-any-return]
            {
                "type": "geomap",
                "fieldConfig": {
                    "defaults": {
                        "thresholds": self.steps,
                        "color": {"mode": "thresholds"},
                        "unit": "none",
                        "mappings": [],
                    },
                    "overrides": [],
                },
                "options": {
                    # fit to the stations; lat/lon/zoom are the fallback before data arrives
                    "view": {
                        "id": "fit",
                        "lat": lat,
                        "lon": lon,
                        "zoom": self.zoom,
                        "allLayers": True,
                        "padding": 10,
                    },
                    "controls": {
                        "showZoom": True,
                        "mouseWheelZoom": True,
                        "showAttribution": True,
                        "showScale": True,
                    },
                    "basemap": {"type": "default", "name": "Basemap"},
                    "layers": [markers],
                    "tooltip": {"mode": "details"},
                },
            }
        )


def geomap(
    title: str,
    targets: Sequence[InfluxDBTarget],
    *,
    color_field: str,
    steps: Json,
    description: str = "",
    transformations: Sequence[Json] = (),
) -> GeoMap:
    """Map of the stations (table-format targets with latitude/longitude columns)."""
    panel = GeoMap(
        **_common(title, targets, description, SUMMARY_POINTS, None),
        transformations=list(transformations),
    )
    panel.color_field, panel.steps = color_field, steps
    return panel


class Layout:
    """Places panels left to right in rows of the 24-column grid, wrapping when a row is full.

    It also numbers the panels (ids are stable: the order of `add` calls).
    """

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.panels: list[Panel] = []

    def add(self, panel: Panel, w: int, h: int) -> None:
        if self.x + w > 24:
            self.newline()
        # set in place: attr.evolve would drop the settings of the subclasses above
        panel.gridPos = GridPos(h=h, w=w, x=self.x, y=self.y)
        panel.id = len(self.panels) + 1
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def newline(self) -> None:
        self.y += self.row_h
        self.x = 0
        self.row_h = 0


def hidden(name: str) -> Json:
    """A field override hiding the column `name` (instead of an `organize` transformation)."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "custom.hidden", "value": True}],
    }


def renamed(name: str, label: str, *props: Json) -> Json:
    """A field override showing the column `name` as `label`, with more properties."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "displayName", "value": label}, *props],
    }
