"""Every dashboard panel's query, interpolated as Grafana would, timed against InfluxDB."""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dashboards.build import render_all
from dashboards.influxql import RP_VARIABLE
from dashboards.interpolate import Variable, interpolate
from dashboards.provisioning import MIN_INTERVAL

Json = dict[str, Any]
TIMEOUT_S = 120.0  # a query slower than this counts as infinitely slow
SLOW_S = 10.0  # ten times the target: timed once


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """One target of one panel (or an annotation), with what interpolation needs."""

    board: str
    label: str
    query: str
    max_points: int
    min_interval: str

    @property
    def rolls_up(self) -> bool:
        """Reads readings through `$rp`: it has a raw and an hourly form."""
        return "$" + RP_VARIABLE in self.query


def panel_queries() -> Iterator[PanelQuery]:
    for uid, board in render_all().items():
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                yield PanelQuery(
                    uid,
                    f"{panel['title']}/{t['refId']}",
                    t["query"],
                    int(panel.get("maxDataPoints", 100)),
                    panel.get("interval") or MIN_INTERVAL,
                )
        for anno in board["annotations"]["list"]:
            if anno["datasource"]["type"] == "influxdb":
                label = f"annotation {anno['name']}"
                yield PanelQuery(uid, label, anno["target"]["query"], 100, MIN_INTERVAL)


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p95 of 5 samples is their maximum)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Timer:
    """Runs InfluxQL on one database and times each answer, fully read."""

    def __init__(self, url: str, db: str, stations: list[str]) -> None:
        self.url, self.db = url, db
        self.station = Variable("station", tuple(stations), multi=True, include_all=True)

    def text(self, pq: PanelQuery, from_ms: int, to_ms: int, rp: str) -> str:
        return interpolate(
            pq.query,
            from_ms=from_ms,
            to_ms=to_ms,
            max_data_points=pq.max_points,
            min_interval=pq.min_interval,
            variables=[self.station, Variable(RP_VARIABLE, (rp,))],
        )

    def once(self, text: str) -> tuple[float, int]:
        """Seconds to answer, and the number of rows (an error raises); inf past the timeout."""
        qs = urllib.parse.urlencode({"db": self.db, "epoch": "ms", "q": text})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"{self.url}/query?{qs}", timeout=TIMEOUT_S) as resp:
                body = resp.read()
        except TimeoutError:
            return math.inf, 0
        seconds = time.monotonic() - started
        result: Json = json.loads(body)["results"][0]
        if "error" in result:
            raise RuntimeError(f"{result['error']}: {text[:200]}")
        return seconds, sum(len(s.get("values", [])) for s in result.get("series", []))

    def times(self, text: str, repeats: int) -> tuple[list[float], int]:
        """`repeats` timings, or only the first when it is slower than SLOW_S (a miss anyway)."""
        found = [self.once(text)]
        if found[0][0] < SLOW_S:
            found += [self.once(text) for _ in range(repeats - 1)]
        return [s for s, _ in found], found[-1][1]
