"""`python -m bench.queries`: every dashboard panel over 24 h, 30 d and 365 d, raw and hourly.

For each fleet size: a year of 5-minute readings written to a fresh InfluxDB 1.6 through
/write, the hourly rollup built by `rollup backfill` (the CQs' own SELECT), storage per
retention policy, then each panel query timed on raw data and on the rollup in the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.query_data import DAY_MS, station_ids, write_year
from bench.query_timing import Timer, panel_queries, percentile
from bench.stack import temp_root
from collector.store.rollup.client import InfluxQLClient
from collector.store.rollup.plan import Plan
from collector.store.rollup.setup import backfill, default_rp, setup
from devices import schema
from devstack import Influxd

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


def measure_fleet(
    influxd: Influxd,
    stations: int,
    days: int,
    repeats: int,
    raw_repeats: int,
    rollup_by: str = "backfill",
) -> FleetResult:
    db = f"bench_q{stations}"
    client = InfluxQLClient(influxd.url, db)
    client.query(f'CREATE DATABASE "{db}"')
    # raw kept for ever here: the bench compares the same 365 d on raw data and on the rollup
    plan = Plan(db=db, raw_rp=default_rp(client), raw_retention="INF")
    setup(client, plan)
    end_ms = int(time.time() * 1000) // 3_600_000 * 3_600_000
    start_ms = end_ms - days * DAY_MS
    print(f"{stations} stations x {days} days: writing...", flush=True)
    written = write_year(influxd.url, db, stations, days, start_ms)
    print(f"  {written.points:,} points in {written.seconds:.0f} s", flush=True)
    started = time.monotonic()
    if rollup_by == "backfill":
        backfill(client, plan, start_ms, end_ms, chunk="30d")
    else:  # the same points, computed here: a backfill of 500 station-years takes an hour
        write_year(influxd.url, db, stations, days, start_ms, rp=schema.ROLLUP_RP)
    rollup_s = time.monotonic() - started
    print(f"  rollup {rollup_by} in {rollup_s:.0f} s", flush=True)
    settle(influxd, db)
    sizes = {
        rp: du_bytes(influxd.workdir / "data" / db / rp)
        + du_bytes(influxd.workdir / "wal" / db / rp)
        for rp in (plan.raw_rp, schema.ROLLUP_RP)
    }
    result = FleetResult(
        stations, days, written.points, written.seconds, rollup_s, sizes, rollup_by
    )
    timer = Timer(influxd.url, db, station_ids(stations))
    up_to = 7 * DAY_MS
    for pq in panel_queries():
        for name, span in RANGES.items():
            policies = [plan.raw_rp, schema.ROLLUP_RP] if pq.rolls_up else [plan.raw_rp]
            for rp in policies:
                shipped = not pq.rolls_up or (rp == plan.raw_rp) == (span <= up_to)
                n = raw_repeats if (rp == plan.raw_rp and span > up_to) else repeats
                samples, rows = timer.times(timer.text(pq, end_ms - span, end_ms, rp), n)
                result.timings.append(
                    Timing(pq.board, pq.label, name, rp, shipped, percentile(samples, 50),
                           percentile(samples, 95), rows)
                )  # fmt: skip
        print(f"  timed {pq.board} {pq.label}", flush=True)
    return result


def summary(result: FleetResult, raw_rp: str = "autogen") -> list[str]:
    """The report's lines for one fleet: storage, the worst panels, the targets."""
    out = [
        f"## {result.stations} stations x {result.days} days: {result.points:,} points, "
        f"written in {result.write_s:.0f} s ({result.points / result.write_s:,.0f} points/s), "
        f"rollup ({result.rollup_by}) built in {result.rollup_s:.0f} s",
        "",
        "storage per station-year: "
        + ", ".join(
            f"{rp} {result.per_station_year(rp) / 1e6:.1f} MB" for rp in result.bytes_by_rp
        ),
        "",
        "| range | panels | shipped p50 (worst) | shipped p95 (worst) | raw p95 (worst) "
        "| raw/hourly p95 (least, panels read through $rp) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in RANGES:
        here = [t for t in result.timings if t.range == name]
        shipped = [t for t in here if t.shipped]
        raw = {(t.board, t.panel): t for t in here if t.rp == raw_rp}
        ratios = [
            raw[(t.board, t.panel)].p95_s / t.p95_s
            for t in here
            if t.rp == schema.ROLLUP_RP and t.p95_s > 0
        ]
        out.append(
            f"| {name} | {len(shipped)} | {max(t.p50_s for t in shipped):.3f} s "
            f"| {max(t.p95_s for t in shipped):.3f} s | {max(t.p95_s for t in raw.values()):.3f} s "
            f"| {min(ratios):.1f}x |"
        )
    year = [t for t in result.timings if t.range == "365d"]
    worst = sorted((t for t in year if t.shipped), key=lambda t: -t.p95_s)[:5]
    out += ["", "slowest panels over 365 d, as shipped:"]
    out += [f"- {t.board} {t.panel} ({t.rp}): p95 {t.p95_s:.3f} s" for t in worst]
    raw = {(t.board, t.panel): t for t in year if t.rp == raw_rp}
    pairs = [(raw[(t.board, t.panel)].p95_s / t.p95_s, t) for t in year if t.rp == schema.ROLLUP_RP]
    out += ["", "least speed-up over 365 d (raw p95 / hourly p95):"]
    out += [f"- {t.board} {t.panel}: {r:.1f}x" for r, t in sorted(pairs, key=lambda x: x[0])[:5]]
    slow = [t for t in year if t.shipped and t.p95_s >= TARGET_P95_S]
    few = [t for r, t in pairs if r < TARGET_RATIO]
    out += [
        "",
        f"target p95 < {TARGET_P95_S:.0f} s over 365 d: "
        + ("met" if not slow else f"missed by {len(slow)} panel queries"),
        f"target >= {TARGET_RATIO:.0f}x faster than raw over 365 d: "
        + ("met" if not few else f"missed by {len(few)} panel queries"),
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
    p.add_argument("--json", type=Path, help="also write every timing as JSON here")
    p.add_argument("--keep", action="store_true", help="keep the InfluxDB folder")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.stations, args.days, args.repeats, args.raw_repeats = "3", 40, 2, 1
    root, holder = temp_root(args.keep)
    influxd = Influxd(root / "influxd")
    influxd.start()
    results = []
    try:
        for n in (int(s) for s in args.stations.split(",")):
            results.append(
                measure_fleet(influxd, n, args.days, args.repeats, args.raw_repeats, args.rollup_by)
            )
            for text in summary(results[-1]):
                print(text)
    finally:
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
