"""The collector's command line: its flags, and the settings they and the config file give."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from collector.config import Settings, load_settings

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
