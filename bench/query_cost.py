"""`python -m bench.query_cost`: what one station's year costs InfluxDB, query shape by shape.

Runs on a data set `bench.queries --prepare` kept (`--data-dir`): the station board's daily
query for a year of one field, beside the same read without `GROUP BY time`, over weekly
buckets, on raw data, and a request that matches nothing. The shapes take turns, round after
round, so that each sees the same machine; each line gives p50, p95 and InfluxDB's allocations
a query (counted apart, in ALLOC_RUNS more runs), and the run InfluxDB's garbage collections
over the rounds. InfluxDB inherits the environment, so
`GOGC=off` (or `GOMEMLIMIT`) before the command measures the same without (or with a bounded)
collector.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.query_data import DAY_MS, station_ids
from bench.query_timing import Timer, percentile
from devices import schema
from devstack import Influxd

ALLOC_RUNS = 50


def shapes(db_end_ms: int, station: str) -> dict[str, str]:
    """Query texts by name: the shipped daily shape and what it is made of."""
    where = (
        f'"station" =~ /^{station}$/ AND time >= {db_end_ms - 365 * DAY_MS}ms'
        f" and time <= {db_end_ms}ms"
    )
    grouped = (
        'SELECT max("error_code") AS "error_code" FROM "{rp}"."solar" WHERE '
        + where
        + ' GROUP BY time({bucket}), "station" fill(null)'
    )
    return {
        "nothing matches": (
            'SELECT max("error_code") FROM "solar" WHERE "station" = \'nobody\''
            " AND time > now() - 1h"
        ),
        "daily points, no GROUP BY time": (
            f'SELECT "error_code_max" FROM "{schema.DAILY_RP}"."solar" WHERE {where}'
        ),
        "daily, GROUP BY time(1d) (shipped)": grouped.format(rp=schema.DAILY_RP, bucket="1d"),
        "daily, GROUP BY time(1w)": grouped.format(rp=schema.DAILY_RP, bucket="1w"),
        "raw, GROUP BY time(1d)": grouped.format(rp="autogen", bucket="1d"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.query_cost", description=__doc__)
    p.add_argument("--data-dir", type=Path, required=True, help="as given to bench.queries")
    p.add_argument("--stations", type=int, default=500, help="which kept fleet")
    p.add_argument("--rounds", type=int, default=300, help="runs of each shape")
    args = p.parse_args(argv)
    influxd = Influxd(args.data_dir.resolve() / "influxd")
    meta = influxd.workdir / f"bench_q{args.stations}.json"
    if not meta.exists():
        print(f"bench.query_cost: no data set {meta}: run bench.queries --prepare first")
        return 2
    end_ms = int(json.loads(meta.read_text())["end_ms"])
    influxd.start()
    try:
        timer = Timer(influxd.url, f"bench_q{args.stations}", [])
        texts = shapes(end_ms, station_ids(1)[0])
        for text in texts.values():  # warm: the first run of each reads from disk
            timer.once(text)
        samples: dict[str, list[float]] = {name: [] for name in texts}
        gc0, _ = timer.runtime()
        for _ in range(args.rounds):
            for name, text in texts.items():
                samples[name].append(timer.once(text)[0])
        collections = timer.runtime()[0] - gc0
        allocated = {}
        for name, text in texts.items():  # apart from the timing: /debug/vars allocates too
            _, alloc0 = timer.runtime()
            for _ in range(ALLOC_RUNS):
                timer.once(text)
            allocated[name] = (timer.runtime()[1] - alloc0) / ALLOC_RUNS
        print(f"one station's year of one field, {args.stations} stations, {args.rounds} rounds;")
        print(f"InfluxDB collected {collections} times during the timed rounds")
        print("| query | p50 | p95 | InfluxDB allocated a query |")
        print("|---|---:|---:|---:|")
        for name, s in samples.items():
            print(
                f"| {name} | {percentile(s, 50) * 1e3:.2f} ms | {percentile(s, 95) * 1e3:.2f} ms"
                f" | {allocated[name] / 1024:,.0f} KB |"
            )
    finally:
        influxd.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
