"""`python -m collector`: parse arguments, load settings, run until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tempfile
from pathlib import Path

from collector.args import parser, settings_from_args
from collector.config import ConfigError, Settings
from collector.secrets import url_has_password
from collector.workers import run_workers, worker_index


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
    from collector.alerts.coverage import matrix_lines
    from collector.service import load_registry
    from collector.store.sinks import make_sink

    fleet = load_registry(settings)
    make_sink(settings.influx)
    if settings.alerts.enabled and settings.role != "ingest":
        with tempfile.TemporaryDirectory() as tmp:
            AlertService(
                settings.alerts,
                fleet,
                Path(tmp),
                prefix=settings.mqtt.prefix,
                write_lines=lambda lines: None,
                mqtt_publish=lambda topic, payload, qos, retain: None,
            )
        print("\n".join(matrix_lines(settings.alerts, fleet)), flush=True)
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
    except ConfigError as exc:  # the fleet's and the alerts' errors are ConfigErrors too
        # only a configuration mistake is one line; anything else is a bug and shows its traceback
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
