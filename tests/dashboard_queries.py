"""Running the shipped dashboards' queries as Grafana would: interpolated, against InfluxDB."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dashboards.interpolate import Variable, interpolate
from dashboards.provisioning import MIN_INTERVAL
from dashboards.registry import BUILDERS
from dashboards.render import render
from devstack import Influxd

Json = dict[str, Any]
# The English set, by base uid: tests address panels by English titles. The Portuguese set has
# the same queries panel by panel (test_dashboards_schema.py).
BOARDS = {uid: render(build("en")) for uid, build in BUILDERS.items()}
LEFT_OVER = re.compile(r"\$\w|\$\{|\[\[")  # a variable or macro reference


@dataclass(frozen=True)
class View:
    """A database looked at over one dashboard time range (epoch ms, both ends included)."""

    db: str
    from_ms: int
    to_ms: int


def all_queries() -> list[tuple[str, str, Json, str]]:
    """(uid, label, panel or {}, query) for every panel target and annotation of every board."""
    out = []
    for uid, board in BOARDS.items():
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                out.append((uid, f"{panel['title']}/{t['refId']}", panel, t["query"]))
        for anno in board["annotations"]["list"]:
            if anno["datasource"]["type"] == "influxdb":
                out.append((uid, f"annotation {anno['name']}", {}, anno["target"]["query"]))
    return out


def rows(answer: Json) -> list[Json]:
    """One dict per row of the first statement's series, with the series' tags merged in."""
    out = []
    for series in answer["results"][0].get("series", []):
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            row.update(series.get("tags", {}))
            out.append(row)
    return out


def has_values(found: list[Json]) -> bool:
    return any(v is not None for row in found for k, v in row.items() if k != "time")


def variables(influxd: Influxd, view: View, board: Json, pick: list[str] | None) -> list[Variable]:
    """The board's variables, resolved as Grafana does: run the query, select All (or `pick`).

    Each variable's query sees the same range as the panels (`$rp` depends on it).
    """
    out = []
    for var in board["templating"]["list"]:
        query = interpolate(
            var["query"], from_ms=view.from_ms, to_ms=view.to_ms, max_data_points=100
        )
        # one series per measurement; Grafana's InfluxQL response parser merges the values
        found = [row["value"] for row in rows(influxd.query_raw(query, db=view.db))]
        options = list(dict.fromkeys(found))
        # `pick` is the user's choice of stations; `$rp` (single, hidden) is the range's own
        values = tuple(pick) if pick and var["multi"] else tuple(options)
        all_value = None if pick else var.get("allValue")  # All picked: Grafana sends it
        out.append(Variable(var["name"], values, var["multi"], var["includeAll"], all_value))
    return out


def run(
    influxd: Influxd,
    view: View,
    uid: str,
    panel: Json,
    query: str,
    pick: list[str] | None = None,
) -> list[Json]:
    """The rows InfluxDB answers to `query` of `panel` on board `uid`, interpolated for `view`."""
    text = interpolate(
        query,
        from_ms=view.from_ms,
        to_ms=view.to_ms,
        max_data_points=int(panel.get("maxDataPoints", 100)),
        min_interval=panel.get("interval") or MIN_INTERVAL,
        variables=variables(influxd, view, BOARDS[uid], pick),
    )
    assert not LEFT_OVER.search(text), f"left uninterpolated: {text}"
    answer = influxd.query_raw(text, db=view.db)
    assert "error" not in answer["results"][0], f"{answer['results'][0]['error']}: {text}"
    return rows(answer)


def panel(uid: str, title: str) -> Json:
    return next(p for p in BOARDS[uid]["panels"] if p["title"] == title)


def query_of(uid: str, title: str, ref: str = "A") -> tuple[Json, str]:
    p = panel(uid, title)
    return p, next(t["query"] for t in p["targets"] if t["refId"] == ref)


def one(found: list[Json], column: str) -> float:
    """The single row's `column`, a number."""
    assert len(found) == 1, found
    value = found[0][column]
    assert isinstance(value, int | float), found
    return float(value)
