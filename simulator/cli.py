"""Command line: `python -m simulator --mqtt-url URL [...]` (design §5)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from devices.errors import ConfigError
from devices.topics import DEFAULT_PREFIX
from simulator.config import SimulationConfig
from simulator.dialects import DIALECTS
from simulator.runner import SimulationError, run_simulation
from simulator.scenarios import SCENARIOS
from simulator.summary import Summary
from simulator.timefmt import parse_duration, parse_rfc3339

EXIT_FAILED, EXIT_USAGE = 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one line, no usage dump: scripts and people both read the reason at once
        self.exit(EXIT_USAGE, f"simulator: error: {message}\n")


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"speed {text!r} must be 0 (as fast as possible) or more")
    return value


URL_ENV = "SIMULATOR_MQTT_URL"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m simulator", description="Publish simulated station telemetry.")
    env_url = os.environ.get(URL_ENV)  # keeps a password out of /proc/<pid>/cmdline
    p.add_argument("--mqtt-url", default=env_url, required=env_url is None,
                   help=f"mqtt://[user:pass@]host[:port] or mqtts:// (or ${URL_ENV})")  # fmt: skip
    p.add_argument("--fleet", type=Path, help="fleet YAML (default: the 19-site sample fleet)")
    p.add_argument("--stations", type=_positive_int, help="use the first N stations of the fleet")
    p.add_argument("--start", help="first reading time, RFC 3339 (default: now minus duration)")
    p.add_argument("--duration", type=_duration, default=86400, help="simulated span (24h)")
    p.add_argument("--interval", type=_duration, default=300, help="time between readings (5m)")
    p.add_argument("--speed", type=_speed, default=0.0, help="0 = as fast as possible; 60 = 60x")
    p.add_argument("--seed", type=int, default=1, help="random seed (1)")
    p.add_argument("--scenario", default="default", choices=list(SCENARIOS), metavar="NAME",
                   help=f"one of: {', '.join(SCENARIOS)} (default)")  # fmt: skip
    p.add_argument("--scenario-station", metavar="ID", help="station the faults hit (first)")
    p.add_argument("--summary-json", type=Path, metavar="FILE", help="write the counts here")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix (solarwater)")
    p.add_argument("--state-dir", type=Path, help="folder for the device buffers (temporary)")
    p.add_argument("--buffer-max", type=_positive_int, default=10_000,
                   help="readings a device buffers while offline (10000)")  # fmt: skip
    p.add_argument("--ca-file", type=Path, help="CA certificate for mqtts://")
    p.add_argument("--credentials", type=Path, metavar="FILE",
                   help="per-station logins, 0600 (default: the URL's user for all)")  # fmt: skip
    p.add_argument("--dialect", choices=list(DIALECTS), metavar="NAME",
                   help=f"all stations speak: {'|'.join(DIALECTS)} (the fleet's)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _config(args: argparse.Namespace) -> SimulationConfig:
    try:
        start = parse_rfc3339(args.start) if args.start else None
    except ValueError as exc:
        raise ConfigError(f"--start: {exc}") from None
    return SimulationConfig(
        mqtt_url=args.mqtt_url,
        fleet_file=args.fleet,
        stations=args.stations,
        start=start,
        duration_s=args.duration,
        interval_s=args.interval,
        speed=args.speed,
        seed=args.seed,
        scenario=args.scenario,
        scenario_station=args.scenario_station,
        prefix=args.prefix,
        state_dir=args.state_dir,
        buffer_max=args.buffer_max,
        ca_file=args.ca_file,
        credentials_file=args.credentials,
        quiet=args.quiet,
        dialect=args.dialect,
    )


def _write_summary(path: Path | None, summary: Summary | None) -> None:
    if path is None or summary is None:
        return
    try:
        path.write_text(json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"simulator: error: cannot write {path}: {exc.strerror}", file=sys.stderr)


def _raise_fd_limit() -> None:
    # each station holds a socket and paho's wake-up pair, each device its buffer file
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _warn_cli_password(url: str) -> None:
    """One line when --mqtt-url carries a password: every local user can read our argv."""
    try:
        password = urllib.parse.urlsplit(url).password
    except ValueError:
        return  # the URL parser explains a malformed URL
    if password is not None and url != os.environ.get(URL_ENV):
        print(
            "simulator: warning: --mqtt-url carries a password that any local user can read in "
            f"/proc/<pid>/cmdline; put the URL in {URL_ENV} instead",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _warn_cli_password(args.mqtt_url)
    try:
        config = _config(args)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        parser.error(f"{where}: {err['msg']}" if where else err["msg"])
    except ConfigError as exc:
        parser.error(str(exc))
    if args.summary_json is not None and not args.summary_json.parent.is_dir():
        parser.error(f"--summary-json: folder {args.summary_json.parent} does not exist")
    _raise_fd_limit()
    try:
        summary = run_simulation(config)
    except ConfigError as exc:  # fleet, station model, scenario, credentials, broker URL
        parser.error(str(exc))
    except SimulationError as exc:
        _write_summary(args.summary_json, exc.summary)
        print(f"simulator: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("simulator: interrupted", file=sys.stderr)
        return 130
    _write_summary(args.summary_json, summary)
    if not config.quiet:
        print(
            f"simulator: {summary.readings.total} readings in {summary.messages.total} messages "
            f"acknowledged ({summary.start} to {summary.end})",
            file=sys.stderr,
        )
    return 0
