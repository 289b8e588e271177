"""`python -m collector`: parse arguments, load settings, run until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from collector.config import ConfigError, Settings, load_settings
from collector.secrets import url_has_password
from collector.workers import run_workers, worker_index
from devices.stations import FleetError

# CLI flag → dotted setting (design §5)
FLAGS: dict[str, str] = {
    "mqtt_url": "mqtt.url",
    "influx_url": "influx.url",
    "influx_api": "influx.api",
    "influx_db": "influx.db",
    "influx_org": "influx.org",
    "influx_bucket": "influx.bucket",
    "http": "http.listen",
    "fleet": "fleet",
    "data_dir": "data_dir",
    "workers": "workers",
    "log_level": "log_level",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m collector",
        description="Ingest SolarWater telemetry from MQTT into InfluxDB and raise alerts.",
        epilog="Every setting can also be set as SOLARWATER_<SECTION>__<NAME> in the environment.",
    )
    p.add_argument("--config", type=Path, help="YAML configuration file")
    p.add_argument("--mqtt-url", help="mqtt://[user:pass@]host[:port] or mqtts://...")
    p.add_argument("--influx-url", help="InfluxDB base URL, e.g. http://localhost:8086")
    p.add_argument("--influx-api", choices=["v1", "v2"], help="v1 /write or v2 API")
    p.add_argument("--influx-db", help="database (v1)")
    p.add_argument("--influx-org", help="organisation (v2)")
    p.add_argument("--influx-bucket", help="bucket (v2)")
    p.add_argument("--http", metavar="HOST:PORT", help="HTTP API address (default 127.0.0.1:8080)")
    p.add_argument("--fleet", type=Path, help="station registry YAML (default: sample fleet)")
    p.add_argument("--data-dir", type=Path, help="spool, quarantine and alert state folder")
    p.add_argument("--workers", type=int, help="worker processes sharing the subscription")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--check-config", action="store_true", help="validate the settings and exit")
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {dotted: getattr(args, flag) for flag, dotted in FLAGS.items()}
    return load_settings(args.config, overrides)


async def _serve(settings: Settings) -> None:
    from collector.service import Collector

    collector = Collector(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, collector.stop)
    await collector.run()


def check_config(settings: Settings) -> int:
    """Everything start-up checks, without touching the network or the data folder."""
    from collector.alerts import AlertService
    from collector.service import load_registry
    from collector.store.sinks import make_sink

    fleet = load_registry(settings)
    make_sink(settings.influx)
    if settings.alerts.enabled:
        with tempfile.TemporaryDirectory() as tmp:
            AlertService(
                settings.alerts,
                fleet,
                Path(tmp),
                prefix=settings.mqtt.prefix,
                write_lines=lambda lines: None,
                mqtt_publish=lambda topic, payload, qos, retain: None,
            )
    print(f"config ok: {len(fleet.stations)} stations in the registry", flush=True)
    return 0


# URL flags → the settings that keep their password off the command line
URL_FLAGS = {"mqtt_url": "mqtt", "influx_url": "influx"}


def warn_cli_passwords(args: argparse.Namespace) -> None:
    """One line per URL flag with a password: /proc/<pid>/cmdline is readable by every user."""
    for flag, section in URL_FLAGS.items():
        if url_has_password(getattr(args, flag)):
            print(
                f"collector: warning: --{flag.replace('_', '-')} carries a password that any "
                f"local user can read in /proc/<pid>/cmdline; set SOLARWATER_{section.upper()}"
                f"__URL or {section}.password_file instead",
                file=sys.stderr,
            )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if worker_index() is None:  # workers get the same argv: one warning is enough
        warn_cli_passwords(args)
    try:
        settings = settings_from_args(args)
        if args.check_config:
            return check_config(settings)
        if settings.workers > 1 and worker_index() is None:
            return run_workers(settings, list(sys.argv[1:] if argv is None else argv))
        logging.basicConfig(
            level=settings.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        asyncio.run(_serve(settings))
    except (ConfigError, FleetError, ValueError) as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
