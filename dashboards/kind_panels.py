"""Each device kind's panels from the catalogue: titles, units, ranges, thresholds, colours."""

# A kind added to the catalogue gets its station-board and fleet-board panels from here, with
# no dashboard code of its own; texts are the catalogue's labels in the language asked for.

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from grafanalib.core import Panel

from dashboards import influxql as iq
from dashboards import panels as p
from devices import catalogue, schema
from devices.catalogue import KINDS
from devices.fieldinfo import FieldInfo, Lang, Text
from devices.kind import DeviceKind

AND = Text("e", "and")
BY_STATION = Text("{} por estação", "{} by station")
WORST = {"min": Text("{} mais baixo", "Lowest {}"), "max": Text("{} mais alto", "Highest {}")}
# A multi-field panel names its series "<station> <field>" so the right-axis override finds it.
ALIAS = "$tag_station $col"
# Fixed daily buckets need few points; hourly totals (rain) a few days' worth.
BUCKET_POINTS = 60
BAR_POINTS = 200
# A line per station: the answer grows with the fleet. 50 points gives 30-minute buckets over
# 24 h, 12-hour ones over 30 days and weekly ones over a year (Grafana's rounded $__interval):
# 26,500 rows for 500 stations over a year instead of 183,000 daily ones (0.9 s to answer).
FLEET_POINTS = 50


@dataclass(frozen=True, slots=True)
class Placed:
    """A panel and its size on the 24-column grid."""

    panel: Panel
    w: int
    h: int


def lower_first(text: str) -> str:
    """`text` with a lower-case first letter, unless it starts with an acronym (PV, SoC)."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def steps(info: FieldInfo) -> p.Json:
    """The field's display thresholds as Grafana's, or one neutral colour."""
    return p.thresholds(*info.steps) if info.steps else p.NEUTRAL


def soft_range(info: FieldInfo) -> p.Json:
    """The display range as soft axis limits: data beyond them still shows."""
    custom = {
        k: v for k, v in (("axisSoftMin", info.low), ("axisSoftMax", info.high)) if v is not None
    }
    return {"fieldConfig": {"defaults": {"custom": custom}}}


def _describe(info: FieldInfo, lang: Lang) -> str:
    return info.description(lang) if info.description else ""


def latest(
    kind: DeviceKind, field: str, *conditions: str, tags: Sequence[str] = (schema.STATION,)
) -> str:
    """The latest value of `field` per station in the range."""
    return iq.select([iq.agg("last", field)], kind.measurement, *conditions, tags=tags, latest=True)


def headline(kind: DeviceKind, field: str, lang: Lang, *conditions: str) -> Placed:
    """A gauge or a big number of a field's latest value."""
    info = kind.info[field]
    targets = iq.targets(latest(kind, field, *conditions), alias="$tag_station")
    if info.chart.headline == "gauge":
        gauge = p.gauge(
            info.label(lang),
            targets,
            unit=info.grafana_unit,
            steps=steps(info),
            min_value=info.low or 0,
            max_value=100 if info.high is None else info.high,
            description=_describe(info, lang),
        )
        return Placed(gauge, 6, 6)
    big = p.stat(
        info.label(lang),
        targets,
        unit=info.grafana_unit,
        steps=steps(info),
        description=_describe(info, lang),
    )
    return Placed(big, 6, 6)


def headlines(lang: Lang, *conditions: str) -> Iterator[Placed]:
    """Every kind's headline panels, in catalogue order."""
    for kind in KINDS.values():
        for name, info in kind.info.items():
            if info.chart.headline is not None:
                yield headline(kind, name, lang, *conditions)


def _right_axis(field: str, unit: str) -> p.Json:
    return {
        "matcher": {"id": "byRegexp", "options": f".*{field}.*"},
        "properties": [
            {"id": "unit", "value": unit},
            {"id": "custom.axisPlacement", "value": "right"},
        ],
    }


def series(kind: DeviceKind, field: str, lang: Lang, *conditions: str) -> Placed:
    """A field's panel over time (with its partner field, if it has one)."""
    info = kind.info[field]
    chart = info.chart
    fields = [field] if chart.with_field is None else [field, chart.with_field]
    query = iq.select(
        [iq.agg(chart.agg, f) for f in fields],
        kind.measurement,
        *conditions,
        tags=[schema.STATION],
        interval=chart.bucket or iq.INTERVAL,
        fill=chart.fill,
    )
    alias = "$tag_station" if len(fields) == 1 else ALIAS
    title = info.label(lang)
    if chart.style == "state":
        timeline = p.state_timeline(
            title,
            iq.targets(query, alias=alias),
            mappings=p.value_mappings(dict(info.colors)),
            interval=chart.interval,
            description=_describe(info, lang),
        )
        return Placed(timeline, 24, 5)
    overrides = []
    if chart.with_field is not None:
        other = kind.info[chart.with_field]
        title = f"{title} {AND(lang)} {lower_first(other.label(lang))}"
        if other.grafana_unit != info.grafana_unit:
            overrides.append(_right_axis(chart.with_field, other.grafana_unit))
    bars = chart.style == "bars"
    points = BUCKET_POINTS if chart.bucket else BAR_POINTS if bars else p.SERIES_POINTS
    panel = p.timeseries(
        title,
        iq.targets(query, alias=alias),
        unit=info.grafana_unit,
        steps=steps(info),
        interval=chart.interval,
        max_points=points,
        bars=bars,
        show_thresholds=bool(info.steps),
        overrides=overrides,
        description=_describe(info, lang),
        extra=soft_range(info),
    )
    return Placed(panel, 12, 8)


def kind_series(kind: DeviceKind, lang: Lang, *conditions: str) -> Iterator[Placed]:
    """A kind's panels over time: one per charted field, partners drawn with their field."""
    partners = {i.chart.with_field for i in kind.info.values()}
    for name, info in kind.info.items():
        if name not in partners and info.chart.style != "none":
            yield series(kind, name, lang, *conditions)


# --- the fleet board ----------------------------------------------------------------------


def fleet_fields() -> list[tuple[DeviceKind, str, FieldInfo]]:
    """The fields shown per station on the fleet board, in catalogue order."""
    return [
        (KINDS[kind], name, KINDS[kind].info[name])
        for kind, names in catalogue.fleet_fields().items()
        for name in names
    ]


def worst(kind: DeviceKind, field: str, lang: Lang) -> Placed:
    """The fleet's worst value of a field now: the lowest or highest of each station's newest.

    From `station_state`, like the fleet table, so a station silent for days still counts
    with the last value it sent.
    """
    info = kind.info[field]
    end = info.chart.fleet or "min"
    query = f"SELECT {iq.agg(end, field)} FROM ({iq.station_states(field)})"
    label = info.label(lang)
    stat = p.stat(
        WORST[end](lang).format(lower_first(label) if lang == "en" else label),
        iq.targets(query),
        unit=info.grafana_unit,
        steps=steps(info),
        description=_describe(info, lang),
    )
    return Placed(stat, 6, 4)


def by_station(kind: DeviceKind, field: str, lang: Lang) -> Placed:
    """One series per station of a fleet field."""
    info = kind.info[field]
    query = iq.select(
        [iq.agg(info.chart.agg, field)],
        kind.measurement,
        tags=[schema.STATION],
        interval=iq.INTERVAL,
        fill="null",
    )
    panel = p.timeseries(
        BY_STATION(lang).format(info.label(lang)),
        iq.targets(query, alias="$tag_station"),
        unit=info.grafana_unit,
        steps=steps(info),
        min_value=info.low,
        max_value=info.high,
        interval=info.chart.interval,
        max_points=FLEET_POINTS,
        show_thresholds=bool(info.steps),
    )
    return Placed(panel, 12, 9)
