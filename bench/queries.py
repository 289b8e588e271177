"""`python -m bench.queries`: every dashboard panel over 24 h, 30 d and 365 d, shipped and raw.

For each fleet size: a year of 5-minute readings published as station backlogs and written to
InfluxDB 1.6 by the collector (or found in --data-dir), the hourly and daily rollups built by
`rollup backfill` (the CQs' own SELECT), storage per retention policy, then each panel query
timed as the dashboards send it and, where the range reads a rollup, the same query on raw
data, in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.query_data import DAY_MS, station_ids, write_info, write_rollup
from bench.query_feed import feed_year
from bench.query_timing import FAST_REPEATS, Timer, panel_queries, percentile
from bench.stack import temp_root
from collector.store.rollup.client import InfluxQLClient
from collector.store.rollup.plan import Plan
from collector.store.rollup.setup import backfill, default_rp, setup
from devices import schema
from devstack import Influxd, Mosquitto

RANGES = {"24h": DAY_MS, "30d": 30 * DAY_MS, "365d": 365 * DAY_MS}
TARGET_P95_S = 1.0
TARGET_RATIO = 10.0


@dataclass
class Timing:
    board: str
    panel: str
    range: str
    rp: str  # the policy read
    shipped: bool  # what the dashboards' `$rp` picks for this range
    p50_s: float
    p95_s: float
    rows: int
    gc_cycles: int = 0  # InfluxDB's garbage collections during the counted runs
    alloc_kb: float = 0.0  # InfluxDB's allocations per run


# Bumped when the raw points are made otherwise: a kept data set is then rewritten
# (2: the readings go through the collector).
GENERATOR = 2


@dataclass(frozen=True)
class DataSet:
    """A raw data set in the InfluxDB folder, described by `<db>.json` beside it."""

    stations: int
    days: int
    start_ms: int
    end_ms: int
    points: int
    write_s: float
    generator: int
    collector_cpu_s: float = 0.0


@dataclass
class FleetResult:
    stations: int
    days: int
    points: int
    write_s: float
    rollup_s: float
    bytes_by_rp: dict[str, int]
    rollup_by: str
    timings: list[Timing] = field(default_factory=list)

    def per_station_year(self, rp: str) -> float:
        return self.bytes_by_rp[rp] / (self.stations * self.days / 365)


def du_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def settle(influxd: Influxd, db: str, timeout_s: float = 60.0) -> None:
    """Wait for the WAL to be snapshotted into TSM files (cold after 10 s), for du."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and du_bytes(influxd.workdir / "wal" / db) > 1_000_000:
        time.sleep(2)


def raw_data(influxd: Influxd, mosquitto: Mosquitto, stations: int, days: int) -> DataSet:
    """The raw year of `stations`: reused when the InfluxDB folder holds it, else written by
    the collector, with the `station_info` points beside it."""
    db = f"bench_q{stations}"
    meta = influxd.workdir / f"{db}.json"
    if meta.exists():
        found = DataSet(**json.loads(meta.read_text()))
        if (found.stations, found.days, found.generator) == (stations, days, GENERATOR):
            print(f"{stations} stations x {days} days: reusing {meta}", flush=True)
            return found
    client = InfluxQLClient(influxd.url, db)
    client.query(f'DROP DATABASE "{db}"')  # a partial or other data set
    client.query(f'CREATE DATABASE "{db}"')
    end_ms = int(time.time() * 1000) // 3_600_000 * 3_600_000
    start_ms = end_ms - days * DAY_MS
    print(f"{stations} stations x {days} days: publishing through the collector...", flush=True)
    fed = feed_year(
        mosquitto,
        influxd.url,
        db,
        stations,
        days,
        start_ms,
        influxd.workdir.parent / f"collector-{db}",
    )
    info = write_info(influxd.url, db, stations, days, start_ms)
    print(
        f"  {fed.readings:,} readings in {fed.seconds:.0f} s ({fed.readings / fed.seconds:,.0f}/s,"
        f" collector CPU {fed.collector_cpu_s / fed.readings * 1e6:.1f} us a reading),"
        f" {info.points:,} station_info points",
        flush=True,
    )
    points, seconds = fed.readings + info.points, fed.seconds + info.seconds
    data = DataSet(
        stations, days, start_ms, end_ms, points, seconds, GENERATOR, fed.collector_cpu_s
    )
    meta.write_text(json.dumps(asdict(data)) + "\n")  # only once the whole set is in
    return data


def build_rollups(
    influxd: Influxd, plan: Plan, data: DataSet, rollup_by: str, reuse: bool = False
) -> tuple[float, str]:
    """Both rollups of the data set made again (the policies dropped first): seconds, how.

    By `rollup backfill` (the CQs' SELECT INTO), or the same points written from here
    (`rollup_by` "write", checked equal by the tests). `reuse` keeps the rollups an earlier
    run (`--prepare`) built, so that the timed run does only the timing.
    """
    client = InfluxQLClient(influxd.url, plan.db)
    record = influxd.workdir / f"{plan.db}.rollups.json"
    if reuse:
        if not record.exists():
            raise SystemExit(f"bench.queries: no rollups kept for {plan.db}: run --prepare first")
        setup(client, plan)
        kept = json.loads(record.read_text())
        return float(kept["seconds"]), f"{kept['by']}, built by --prepare"
    record.unlink(missing_ok=True)
    for rp in (schema.ROLLUP_RP, schema.DAILY_RP):
        client.query(f'DROP RETENTION POLICY "{rp}" ON "{plan.db}"')
    setup(client, plan)
    started = time.monotonic()
    if rollup_by == "backfill":
        backfill(client, plan, data.start_ms, data.end_ms, chunk="30d")
    else:  # the same points, computed here: a backfill of 500 station-years takes an hour
        for rp in (schema.ROLLUP_RP, schema.DAILY_RP):
            write_rollup(influxd.url, plan.db, data.stations, data.days, data.start_ms, rp)
    seconds = time.monotonic() - started
    record.write_text(json.dumps({"by": rollup_by, "seconds": seconds}) + "\n")
    return seconds, rollup_by


def fleet_plan(influxd: Influxd, stations: int) -> Plan:
    """The bench database's rollup plan: raw kept for ever, to compare the same 365 days."""
    db = f"bench_q{stations}"
    return Plan(db=db, raw_rp=default_rp(InfluxQLClient(influxd.url, db)), raw_retention="INF")


def measure_fleet(
    influxd: Influxd,
    mosquitto: Mosquitto,
    stations: int,
    days: int,
    repeats: int,
    raw_repeats: int,
    rollup_by: str = "backfill",
    reuse_rollups: bool = False,
    fast_repeats: int = FAST_REPEATS,
) -> FleetResult:
    data = raw_data(influxd, mosquitto, stations, days)
    plan = fleet_plan(influxd, stations)
    db = plan.db
    rollup_s, by = build_rollups(influxd, plan, data, rollup_by, reuse_rollups)
    print(f"  rollups ({by}) in {rollup_s:.0f} s", flush=True)
    settle(influxd, db)
    sizes = {
        rp: du_bytes(influxd.workdir / "data" / db / rp)
        + du_bytes(influxd.workdir / "wal" / db / rp)
        for rp in (plan.raw_rp, schema.ROLLUP_RP, schema.DAILY_RP)
    }
    result = FleetResult(stations, days, data.points, data.write_s, rollup_s, sizes, by)
    timer = Timer(influxd.url, db, station_ids(stations), fast_repeats)
    end_ms = data.end_ms
    for pq in panel_queries():
        for name, span in RANGES.items():
            start = end_ms - span
            shipped = timer.shipped_rp(pq, start, end_ms) if pq.rolls_up else ""
            forms: list[tuple[str | None, str]] = [(None, shipped or plan.raw_rp)]
            if shipped and shipped != plan.raw_rp:  # the same panel on raw data
                forms.append((plan.raw_rp, plan.raw_rp))
            for forced, rp in forms:
                n = raw_repeats if forced is not None else repeats
                samples, rows = timer.times(timer.text(pq, start, end_ms, forced), n)
                work = timer.last_work
                result.timings.append(
                    Timing(pq.board, pq.label, name, rp, forced is None, percentile(samples, 50),
                           percentile(samples, 95), rows, work.gc_cycles,
                           work.allocated_bytes / 1024 / max(1, work.runs))
                )  # fmt: skip
        print(f"  timed {pq.board} {pq.label}", flush=True)
    return result


def ratios(
    result: FleetResult, range_name: str, pct: str = "p95_s"
) -> list[tuple[float, Timing, Timing]]:
    """(raw / shipped time at `pct`, shipped, raw) of each query the range reads rolled up."""
    here = [t for t in result.timings if t.range == range_name]
    raw = {(t.board, t.panel): t for t in here if not t.shipped}
    return [
        (getattr(raw[(t.board, t.panel)], pct) / getattr(t, pct), t, raw[(t.board, t.panel)])
        for t in here
        if t.shipped and (t.board, t.panel) in raw and getattr(t, pct) > 0
    ]


def _least(pairs: list[float]) -> str:
    return f"{min(pairs):.1f}x ({statistics.median(pairs):.1f}x)" if pairs else "-"


def summary(result: FleetResult) -> list[str]:
    """The report's lines for one fleet: storage, the worst panels, the targets."""
    out = [
        f"## {result.stations} stations x {result.days} days: {result.points:,} points, "
        f"written by the collector in {result.write_s:.0f} s "
        f"({result.points / result.write_s:,.0f} points/s), "
        f"rollups ({result.rollup_by}) built in {result.rollup_s:.0f} s",
        "",
        "storage per station-year: "
        + ", ".join(
            f"{rp} {result.per_station_year(rp) / 1e6:.2f} MB" for rp in result.bytes_by_rp
        ),
        "",
        "| range | panel queries | worst p50, as shipped | worst p95, as shipped "
        "| worst p95 on raw | least raw/shipped p95 (median) | least raw/shipped p50 (median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in RANGES:
        shipped = [t for t in result.timings if t.range == name and t.shipped]
        on_raw = [t for t in result.timings if t.range == name and t.rp == "autogen"]
        pairs = [r for r, _, _ in ratios(result, name)]
        medians = [r for r, _, _ in ratios(result, name, "p50_s")]
        worst = max(shipped, key=lambda t: t.p95_s)
        out.append(
            f"| {name} | {len(shipped)} | {max(t.p50_s for t in shipped):.3f} s "
            f"| {worst.p95_s:.3f} s ({worst.panel}) "
            f"| {max(t.p95_s for t in on_raw):.3f} s | {_least(pairs)} | {_least(medians)} |"
        )
    year = ratios(result, "365d")
    out += ["", "365 d, the least speed-ups (raw -> shipped, p95 and p50):", ""]
    out += [
        f"- {s.board} / {s.panel}: p95 {r.p95_s * 1e3:.1f} -> {s.p95_s * 1e3:.1f} ms = {x:.1f}x,"
        f" p50 {r.p50_s * 1e3:.1f} -> {s.p50_s * 1e3:.1f} ms = {r.p50_s / s.p50_s:.1f}x ({s.rp});"
        f" InfluxDB allocated {r.alloc_kb:,.0f} -> {s.alloc_kb:,.0f} KB a run and collected"
        f" {r.gc_cycles} -> {s.gc_cycles} times in the runs"
        for x, s, r in sorted(year, key=lambda x: x[0])[:6]
    ]
    shipped = [t for t in result.timings if t.range == "365d" and t.shipped]
    out += ["", "365 d, the slowest as shipped (p95):", ""]
    out += [
        f"- {t.board} / {t.panel} ({t.rp}): {t.p95_s:.3f} s"
        for t in sorted(shipped, key=lambda t: -t.p95_s)[:5]
    ]
    slow = [t for t in shipped if t.p95_s >= TARGET_P95_S]
    few = [s for x, s, _ in year if x < TARGET_RATIO]
    few_p50 = [s for x, s, _ in ratios(result, "365d", "p50_s") if x < TARGET_RATIO]
    out += [
        "",
        f"target p95 < {TARGET_P95_S:.0f} s over 365 d: "
        + ("met" if not slow else f"missed by {len(slow)} panel queries"),
        f"target >= {TARGET_RATIO:.0f}x faster than raw over 365 d, at p95: "
        + ("met" if not few else f"missed by {len(few)} of {len(year)} panel queries"),
        f"target >= {TARGET_RATIO:.0f}x faster than raw over 365 d, at p50: "
        + ("met" if not few_p50 else f"missed by {len(few_p50)} of {len(year)} panel queries"),
    ]
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.queries", description=__doc__)
    p.add_argument("--stations", default="26,500", help="fleet sizes, comma-separated")
    p.add_argument("--days", type=int, default=365, help="days of readings per fleet")
    p.add_argument("--repeats", type=int, default=5, help="runs of each query (p50, p95)")
    p.add_argument("--raw-repeats", type=int, default=3, help="runs of raw queries beyond 7 d")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 stations, 40 days, 2 runs")
    p.add_argument(
        "--rollup-by",
        choices=("backfill", "write"),
        default="backfill",
        help="build the rollup by `rollup backfill` (the CQs' SELECT), or write the same "
        "hourly points from here (for fleets whose backfill outlasts the run)",
    )
    p.add_argument(
        "--reuse-rollups",
        action="store_true",
        help="with --data-dir: keep the rollups --prepare built (so that a run holding a "
        "benchmark lock only times queries)",
    )
    p.add_argument("--json", type=Path, help="also write every timing as JSON here")
    p.add_argument("--keep", action="store_true", help="keep the InfluxDB folder")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="run InfluxDB in this folder and keep it: a raw data set already there (same "
        "stations and days) is reused, not rewritten; the rollups are always built again",
    )
    p.add_argument(
        "--prepare",
        action="store_true",
        help="with --data-dir: write (or find) the raw data sets and build their rollups, "
        "then stop (the timed run then takes --reuse-rollups)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.stations, args.days, args.repeats, args.raw_repeats = "3", 40, 2, 1
    if args.prepare and not args.data_dir:
        print("bench.queries: --prepare needs --data-dir", file=sys.stderr)
        return 2
    if args.data_dir:
        root, holder = args.data_dir.resolve(), None
        root.mkdir(parents=True, exist_ok=True)
    else:
        root, holder = temp_root(args.keep)
    influxd = Influxd(root / "influxd")
    mosquitto = Mosquitto(root / "mosquitto", max_inflight=0, max_queued=0)
    influxd.start()
    mosquitto.start()
    results = []
    try:
        for n in (int(s) for s in args.stations.split(",")):
            if args.prepare:
                data = raw_data(influxd, mosquitto, n, args.days)
                seconds, _ = build_rollups(influxd, fleet_plan(influxd, n), data, args.rollup_by)
                print(f"  rollups ({args.rollup_by}) in {seconds:.0f} s", flush=True)
                continue
            results.append(
                measure_fleet(
                    influxd,
                    mosquitto,
                    n,
                    args.days,
                    args.repeats,
                    args.raw_repeats,
                    args.rollup_by,
                    args.reuse_rollups,
                    0 if args.quick else FAST_REPEATS,
                )
            )
            for text in summary(results[-1]):
                print(text)
    finally:
        mosquitto.stop()
        influxd.stop()
        if holder is not None:
            holder.cleanup()
        else:
            print(f"kept {root}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
