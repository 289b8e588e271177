"""`python -m collector.store.rollup`: set up the rollups on InfluxDB 1.x, or backfill them."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from collector.config import load_settings
from collector.store.rollup.client import InfluxQLClient
from collector.store.rollup.durations import duration_ms
from collector.store.rollup.flux import flux_tasks, sql_v3
from collector.store.rollup.plan import Plan
from collector.store.rollup.setup import backfill, default_rp, setup
from collector.store.sinks.influx_v1 import InfluxV1Settings
from devices.catalogue import KINDS
from devices.errors import ConfigError, SolarWaterError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m collector.store.rollup",
        description="Retention policies and hourly and daily continuous queries on InfluxDB "
        "1.x, from the collector's own config (influx.* settings and environment).",
    )
    ap.add_argument("--config", type=Path, help="the collector's YAML config file")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create or update the policies and CQs (idempotent)")
    bf = sub.add_parser("backfill", help="aggregate past hours again, e.g. after a late backlog")
    span = bf.add_mutually_exclusive_group(required=True)
    span.add_argument("--since", help="ISO time with zone, e.g. 2026-03-01T00:00+02:00")
    span.add_argument("--last", help="a duration back from now, e.g. 7d or 48h")
    bf.add_argument("--until", help="ISO time with zone (default: now)")
    for name, about in (
        ("flux", "print the InfluxDB 2.x Flux tasks (one per kind)"),
        ("sql3", "print the InfluxDB 3 SQL of each kind's hourly rollup"),
    ):
        other = sub.add_parser(name, help=about)
        other.add_argument("--bucket", default="solarwater", help="raw bucket (2.x)")
        other.add_argument("--rollup-bucket", default="solarwater_rollup_1h", help="(2.x)")
        other.add_argument("--daily-bucket", default="solarwater_rollup_1d", help="(2.x)")
        other.add_argument("--resample-for", default="24h", help="window each run recomputes")
    return ap


def _print_other(args: argparse.Namespace) -> int:
    """The 2.x and 3.x texts: no server here, so they need no config."""
    duration_ms(args.resample_for)  # a ValueError names a bad duration
    if args.command == "flux":
        tasks = flux_tasks(args.bucket, args.rollup_bucket, args.resample_for, args.daily_bucket)
        for name, text in tasks.items():
            print(f"// task {name}\n{text}")
        return 0
    for daily in (False, True):
        for kind in KINDS.values():
            about = "daily" if daily else "hourly"
            print(f"-- {kind.name} {about}\n{sql_v3(kind, args.resample_for, daily=daily)};\n")
    return 0


def _iso_ms(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ConfigError(f"{text!r}: give a time zone, e.g. {text}+02:00")
    return int(moment.timestamp() * 1000)


def _client_and_plan(config: Path | None) -> tuple[InfluxQLClient, Plan]:
    influx = load_settings(config).influx
    if not isinstance(influx, InfluxV1Settings):
        raise ConfigError(
            f"influx.api is {influx.api}: the rollup setup is for InfluxDB 1.x; on 2.x or 3.x "
            "follow docs/operations.md (Flux task or a scheduled query)"
        )
    client = InfluxQLClient(
        influx.url, influx.db, username=influx.username, password=influx.secret_password()
    )
    # the collector creates its database on start; setup may run before the collector did
    client.query(f'CREATE DATABASE "{influx.db}"')
    try:
        plan = Plan(
            db=influx.db,
            raw_rp=influx.retention_policy or default_rp(client),
            raw_retention=influx.raw_retention,
            rollup_retention=influx.rollup_retention,
            resample_for=influx.rollup_resample_for,
            raw_view_up_to=influx.raw_view_up_to,
            hourly_view_up_to=influx.hourly_view_up_to,
            daily_retention=influx.daily_retention,
            events_retention=influx.events_retention,
        )
    except ValueError as exc:
        raise ConfigError(f"config error: influx.{exc}") from None
    return client, plan


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in ("flux", "sql3"):
            return _print_other(args)
        client, plan = _client_and_plan(args.config)
        if args.command == "setup":
            for line in setup(client, plan):
                print(line)
            return 0
        now = int(time.time() * 1000)
        end = _iso_ms(args.until) if args.until else now
        start = end - (duration_ms(args.last) or 0) if args.last else _iso_ms(args.since)
        written = backfill(client, plan, start, end)
        print(f"backfilled {written} hourly and daily points from {start} to {end} (epoch ms)")
        return 0
    except (SolarWaterError, ValueError) as exc:
        print(f"rollup: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
