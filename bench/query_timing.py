"""Every dashboard panel's query, interpolated as Grafana would, timed against InfluxDB."""

from __future__ import annotations

import http.client
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
# A query this fast is timed FAST_REPEATS times after one uncounted (cold) run and a pause: of
# 5 runs the nearest-rank p95 is the slowest, which at a millisecond is the cold run or a stall
# of the machine rather than the query; the pause keeps the previous query's aftermath (a raw
# year read just before) out of its runs. Both sides of a raw/rolled-up pair are timed alike.
FAST_S = 0.1
FAST_REPEATS = 51
SETTLE_S = 0.5
STATION_VARIABLE = "station"


@dataclass(frozen=True, slots=True)
class ServerWork:
    """What InfluxDB's Go runtime did during a query's timed runs (from /debug/vars)."""

    runs: int
    gc_cycles: int
    allocated_bytes: int


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """One target of one panel (or an annotation), with what interpolation needs."""

    board: str
    label: str
    query: str
    max_points: int
    min_interval: str
    variables: tuple[Json, ...]  # the board's templating list

    @property
    def rolls_up(self) -> bool:
        """Reads readings through `$rp`: it has a raw and a rolled-up form."""
        return "$" + RP_VARIABLE in self.query


def panel_queries() -> Iterator[PanelQuery]:
    """Every query of the English set (the Portuguese one runs the same queries, tested)."""
    for uid, board in render_all(["en"]).items():
        variables = tuple(board["templating"]["list"])
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                yield PanelQuery(
                    uid,
                    f"{panel['title']}/{t['refId']}",
                    t["query"],
                    int(panel.get("maxDataPoints", 100)),
                    panel.get("interval") or MIN_INTERVAL,
                    variables,
                )
        for anno in board["annotations"]["list"]:
            if anno["datasource"]["type"] == "influxdb":
                label = f"annotation {anno['name']}"
                yield PanelQuery(uid, label, anno["target"]["query"], 100, MIN_INTERVAL, variables)


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p95 of 5 samples is their maximum)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Timer:
    """Runs InfluxQL on one database and times each answer, fully read."""

    def __init__(
        self, url: str, db: str, stations: list[str], fast_repeats: int = FAST_REPEATS
    ) -> None:
        self.url, self.db, self.stations = url, db, stations
        self.fast_repeats = fast_repeats  # 0: a fast query is timed as any other (smoke runs)
        self._chosen: dict[tuple[str, int, int], str] = {}
        self._conn: http.client.HTTPConnection | None = None
        self.last_work = ServerWork(0, 0, 0)  # of the latest times()

    def _variable(self, var: Json, from_ms: int, to_ms: int) -> Variable:
        """A board variable as Grafana selects it when the board opens on this range.

        `$station` is All (or its custom all value) when it has All, else the first
        station; a hidden variable (`$rp`, `$bucket`) is its query's answer for the range.
        """
        name = str(var["name"])
        multi, include_all = bool(var.get("multi")), bool(var.get("includeAll"))
        if name == STATION_VARIABLE:
            if include_all:
                return Variable(name, tuple(self.stations), multi, True, var.get("allValue"))
            return Variable(name, (self.stations[0],), multi, include_all)
        key = (str(var["query"]), from_ms, to_ms)
        if key not in self._chosen:
            text = interpolate(var["query"], from_ms=from_ms, to_ms=to_ms, max_data_points=100)
            rows = self.rows(text)
            self._chosen[key] = str(rows[0][1]) if rows else ""
        return Variable(name, (self._chosen[key],), multi, include_all)

    def variables(self, pq: PanelQuery, from_ms: int, to_ms: int) -> list[Variable]:
        return [self._variable(v, from_ms, to_ms) for v in pq.variables]

    def text(self, pq: PanelQuery, from_ms: int, to_ms: int, rp: str | None = None) -> str:
        """The query as shipped for the range, or with `$rp` forced to `rp` (same buckets)."""
        chosen = self.variables(pq, from_ms, to_ms)
        if rp is not None:
            chosen = [Variable(RP_VARIABLE, (rp,)) if v.name == RP_VARIABLE else v for v in chosen]
        return interpolate(
            pq.query,
            from_ms=from_ms,
            to_ms=to_ms,
            max_data_points=pq.max_points,
            min_interval=pq.min_interval,
            variables=chosen,
        )

    def shipped_rp(self, pq: PanelQuery, from_ms: int, to_ms: int) -> str:
        """The policy `$rp` picks for the range ("" when the board has no `$rp`)."""
        found = [v for v in self.variables(pq, from_ms, to_ms) if v.name == RP_VARIABLE]
        return found[0].values[0] if found else ""

    def rows(self, text: str) -> list[list[Any]]:
        """The values of every series of the answer (an error raises)."""
        qs = urllib.parse.urlencode({"db": self.db, "epoch": "ms", "q": text})
        with urllib.request.urlopen(f"{self.url}/query?{qs}", timeout=TIMEOUT_S) as resp:
            result: Json = json.loads(resp.read())["results"][0]
        if "error" in result:
            raise RuntimeError(f"{result['error']}: {text[:200]}")
        return [v for s in result.get("series", []) for v in s.get("values", [])]

    def once(self, text: str) -> tuple[float, int]:
        """Seconds to answer, and the number of rows (an error raises); inf past the timeout.

        On one kept-alive connection, as Grafana's backend keeps its connections to InfluxDB:
        a new TCP connection per query would add its own cost to the cheapest queries.
        """
        qs = urllib.parse.urlencode({"db": self.db, "epoch": "ms", "q": text})
        if self._conn is None:
            where = urllib.parse.urlsplit(self.url)
            self._conn = http.client.HTTPConnection(where.netloc, timeout=TIMEOUT_S)
        started = time.monotonic()
        try:
            self._conn.request("GET", f"/query?{qs}")
            body = self._conn.getresponse().read()
        except TimeoutError:
            self._conn.close()
            self._conn = None
            return math.inf, 0
        seconds = time.monotonic() - started
        result: Json = json.loads(body)["results"][0]
        if "error" in result:
            raise RuntimeError(f"{result['error']}: {text[:200]}")
        return seconds, sum(len(s.get("values", [])) for s in result.get("series", []))

    def runtime(self) -> tuple[int, int]:
        """InfluxDB's garbage collections and bytes allocated so far (Go's memstats)."""
        with urllib.request.urlopen(f"{self.url}/debug/vars", timeout=TIMEOUT_S) as resp:
            mem: Json = json.loads(resp.read())["memstats"]
        return int(mem["NumGC"]), int(mem["TotalAlloc"])

    def times(self, text: str, repeats: int) -> tuple[list[float], int]:
        """`repeats` timings (FAST_REPEATS, warm, for a fast query), or one past SLOW_S.

        Sets `last_work`: the server's collections and allocations over the counted runs.
        """
        before = self.runtime()
        found = [self.once(text)]
        if found[0][0] < FAST_S and self.fast_repeats:
            repeats = max(repeats, self.fast_repeats)
            time.sleep(SETTLE_S)
            before = self.runtime()
            found = [self.once(text)]
        if found[0][0] < SLOW_S:
            found += [self.once(text) for _ in range(repeats - 1)]
        after = self.runtime()
        self.last_work = ServerWork(len(found), after[0] - before[0], after[1] - before[1])
        return [s for s, _ in found], found[-1][1]
