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
# policy (up_to_ms, earliest = shortest), so a 7-day range reads raw and a longer one hourly.
RESOLUTION_QUERY = (
    f'SELECT first("rp") AS "value" FROM {q(schema.ROLLUP_RP)}.{q(schema.RESOLUTION)}'
    ' WHERE "up_to_ms" >= $__to - $__from'
)


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
            current=(
                {"selected": True, "text": ["All"], "value": ["$__all"]}
                if everything
                else {"selected": True, "text": self.default, "value": self.default}
            ),
        )
        return data


STATION_LABEL = Text("Estação", "Station")


def station_variable(lang: Lang) -> QueryVariable:
    """`$station`: every station that has sent readings; several or All may be picked."""
    return QueryVariable(
        name="station",
        label=STATION_LABEL(lang),
        query=STATION_VALUES,
        multi=True,
        includeAll=True,
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
