"""`python -m dashboards build --out DIR [--lang pt|en|all] [--for compose|demo]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from dashboards.build import GRAFANA_DASHBOARDS_PATH, write_outputs
from devices.errors import ConfigError
from devices.fieldinfo import LANGS, Lang
from devstack import demo

LANG_CHOICES: dict[str, tuple[Lang, ...]] = {"pt": ("pt",), "en": ("en",), "all": LANGS}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m dashboards", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    build = sub.add_parser("build", help="write dashboard JSON and Grafana provisioning files")
    build.add_argument("--out", required=True, type=Path, help="output folder")
    build.add_argument(
        "--lang",
        choices=tuple(LANG_CHOICES),
        default="pt",
        help="pt (default: what Grafana is provisioned with), en (uids end in -en), or all",
    )
    build.add_argument(
        "--for",
        dest="target",
        choices=("compose", "demo"),
        default="compose",
        help="compose: the datasource options below; demo: `make demo`'s InfluxDB 1.6 "
        f"(http://localhost:{demo.INFLUX_PORT}, database {demo.DATABASE}, no authentication)",
    )
    build.add_argument(
        "--influx-url", default="http://influxdb:8086", help="InfluxDB URL as Grafana reaches it"
    )
    build.add_argument(
        "--influx-version",
        choices=("1", "2"),
        default="2",
        help="2: token header and DBRP mapping; 1: user/password",
    )
    build.add_argument("--database", default="solarwater", help="InfluxQL database (DBRP) name")
    build.add_argument(
        "--dashboards-path",
        default=GRAFANA_DASHBOARDS_PATH,
        help="where Grafana finds the dashboard JSON (path on the Grafana host)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    url: str = args.influx_url
    database: str = args.database
    version = args.influx_version
    auth = True
    if args.target == "demo":
        url, database = f"http://localhost:{demo.INFLUX_PORT}", demo.DATABASE
        version, auth = "1", False
    if not url.startswith(("http://", "https://")):
        print(f"python -m dashboards: error: --influx-url {url!r} is not http(s)", file=sys.stderr)
        return 2
    try:
        written = write_outputs(
            args.out,
            influx_url=url,
            database=database,
            influx_version=version,
            dashboards_path=args.dashboards_path,
            langs=LANG_CHOICES[args.lang],
            auth=auth,
        )
    except ConfigError as exc:
        print(f"python -m dashboards: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"python -m dashboards: error: cannot write {args.out}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {len(written)} files under {args.out}")
    return 0
