"""Dashboard variables and annotation queries on the InfluxDB datasource."""

from __future__ import annotations

from typing import Any

from grafanalib.core import Template

from dashboards.datasource import ds_ref
from dashboards.influxql import RP_VARIABLE, q
from devices import schema
from devices.fieldinfo import Lang, Text

Json = dict[str, Any]

# Every station that sent a reading of any kind (Grafana merges the per-measurement answers).
STATION_VALUES = (
    "SHOW TAG VALUES FROM "
    + ", ".join(q(m) for m in schema.READING_MEASUREMENTS)
    + f" WITH KEY = {q(schema.STATION)}"
)

# The policy of the shortest range the range fits in: `rollup setup` writes one point per
# policy (up_to_ms, earliest = shortest), so a 7-day range reads raw, up to 30 days hourly,
# a longer one daily.
RESOLUTION_QUERY = (
    f'SELECT first("rp") AS "value" FROM {q(schema.ROLLUP_RP)}.{q(schema.RESOLUTION)}'
    ' WHERE "up_to_ms" >= $__to - $__from'
)
# The panels' min interval for that policy: its step (5m, 1h, 1d), or the panel's own floor
# when that is coarser (the first point whose step is at least the floor, among those the
# range fits): a bucket finer than the data only draws gaps.
BUCKET_VARIABLE = "bucket"


class QueryVariable(Template):  # type: ignore[misc]
    """A query variable in the Grafana 11 shape (datasource ref, definition, `All` selected)."""

    def to_json_data(self) -> Json:
        data: Json = super().to_json_data()
        for key in ("useTags", "tagsQuery", "tagValuesQuery", "auto", "auto_min", "auto_count"):
            data.pop(key, None)
        everything = self.includeAll and self.default in (None, "$__all")
        data.update(
            datasource=ds_ref(),
            definition=self.query,
            options=[],
            # none picked (default None): Grafana selects the first option on loading
            current=(
                {"selected": True, "text": ["All"], "value": ["$__all"]}
                if everything
                else {
                    "selected": self.default is not None,
                    "text": self.default or "",
                    "value": self.default or "",
                }
            ),
        )
        return data


STATION_LABEL = Text("Estação", "Station")


def station_variable(lang: Lang) -> QueryVariable:
    """`$station`: every station that has sent readings; one or several may be picked.

    No `All`: the board is about a station, and the first one is shown on opening. With 500
    stations, All drew 500 lines per panel and made every panel a fleet-wide query.
    """
    return QueryVariable(
        name="station",
        label=STATION_LABEL(lang),
        query=STATION_VALUES,
        multi=True,
        includeAll=False,
        refresh=2,  # on time-range change, so a new station appears without a reload
        sort=1,
    )


def resolution_variable() -> QueryVariable:
    """`$rp`, hidden: the retention policy the reading panels read for the range shown."""
    return QueryVariable(
        name=RP_VARIABLE,
        label="Resolution",
        query=RESOLUTION_QUERY,
        hide=2,
        refresh=2,  # on time-range change: the range decides
        default="",
    )


def bucket_name(floor: str) -> str:
    """The variable of panels whose own min interval is `floor`: `bucket`, `bucket_1h`."""
    return BUCKET_VARIABLE if floor == schema.READING_INTERVAL else f"{BUCKET_VARIABLE}_{floor}"


def bucket_variable(floor: str, floor_ms: int) -> QueryVariable:
    """`$bucket` (or `$bucket_<floor>`), hidden: the min interval of panels reading `$rp`."""
    query = (
        f'SELECT first("bucket") AS "value" FROM {q(schema.ROLLUP_RP)}.{q(schema.RESOLUTION)}'
        f' WHERE "up_to_ms" >= $__to - $__from AND "bucket_ms" >= {floor_ms}'
    )
    return QueryVariable(
        name=bucket_name(floor),
        label="Bucket",
        query=query,
        hide=2,
        refresh=2,
        default="",
    )


def influx_annotation(name: str, query: str, *, text: str, tags: str, color: str = "red") -> Json:
    """An InfluxQL annotation query (Grafana 10+ keeps it in `target`)."""
    return {
        "name": name,
        "datasource": ds_ref(),
        "enable": True,
        "hide": False,
        "iconColor": color,
        "target": {
            "refId": "Anno",
            "query": query,
            "rawQuery": True,
            "fromAnnotations": True,
            "textEditor": True,
            "textColumn": text,
            "tagsColumn": tags,
            # Grafana 11.6's schema types `target` after the built-in annotation's
            # (limit/matchAny/tags/type required); a raw InfluxQL query ignores them.
            "limit": 100,
            "matchAny": False,
            "tags": [],
            "type": "tags",
        },
    }
