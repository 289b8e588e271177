"""`python -m dashboards build`: the files it writes, the copy the deployment mounts, its errors."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devstack import demo

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "deploy" / "grafana"


def build(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dashboards", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_build_writes_dashboards_and_provisioning(tmp_path: Path) -> None:
    done = build("build", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == [
        "dashboards/solarwater-alerts.json",
        "dashboards/solarwater-collector.json",
        "dashboards/solarwater-fleet.json",
        "dashboards/solarwater-station.json",
        "dashboards/solarwater-water.json",
        "provisioning/dashboards/solarwater.yaml",
        "provisioning/datasources/solarwater.yaml",
    ]


def test_english_and_both_sets(tmp_path: Path) -> None:
    assert build("build", "--out", str(tmp_path / "en"), "--lang", "en").returncode == 0
    en = sorted(p.name for p in (tmp_path / "en" / "dashboards").iterdir())
    assert en == [
        "solarwater-alerts-en.json",
        "solarwater-collector-en.json",
        "solarwater-fleet-en.json",
        "solarwater-station-en.json",
        "solarwater-water-en.json",
    ]
    assert build("build", "--out", str(tmp_path / "all"), "--lang", "all").returncode == 0
    both = {p.name for p in (tmp_path / "all" / "dashboards").iterdir()}
    assert both == set(en) | {n.replace("-en", "") for n in en}
    fleet = json.loads((tmp_path / "all" / "dashboards" / "solarwater-fleet.json").read_text())
    assert fleet["title"] == "SolarWater · Visão da frota"


def test_demo_datasource_fits_the_demo_influxdb(tmp_path: Path) -> None:
    """`--for demo`: `make demo`'s InfluxDB 1.6 on localhost, its database, no credentials."""
    done = build("build", "--out", str(tmp_path), "--for", "demo")
    assert done.returncode == 0, done.stderr
    doc = yaml.safe_load((tmp_path / "provisioning/datasources/solarwater.yaml").read_text())
    (ds,) = doc["datasources"]
    assert ds["url"] == f"http://localhost:{demo.INFLUX_PORT}"
    assert ds["jsonData"]["dbName"] == demo.DATABASE
    assert "user" not in ds and "secureJsonData" not in ds
    assert "httpHeaderName1" not in ds["jsonData"]


def test_the_deployment_mounts_a_fresh_build(tmp_path: Path) -> None:
    """deploy/grafana is generated: `python -m dashboards build --out deploy/grafana`."""
    assert build("build", "--out", str(tmp_path)).returncode == 0
    compare = filecmp.dircmp(tmp_path, SHIPPED)
    stale: list[str] = []

    def walk(cmp: filecmp.dircmp[str], where: str) -> None:
        stale.extend(f"{where}{n}" for n in cmp.left_only + cmp.right_only + cmp.diff_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{where}{name}/")

    walk(compare, "")
    assert not stale, f"deploy/grafana is out of date: {stale}"


def test_influxdb_1_datasource_takes_user_and_password_from_the_environment(
    tmp_path: Path,
) -> None:
    done = build(
        "build", "--out", str(tmp_path), "--influx-version", "1", "--influx-url", "http://db:8086"
    )
    assert done.returncode == 0, done.stderr
    doc = yaml.safe_load((tmp_path / "provisioning/datasources/solarwater.yaml").read_text())
    (ds,) = doc["datasources"]
    assert ds["url"] == "http://db:8086"
    assert ds["user"] == "${INFLUX_USER}"
    assert ds["secureJsonData"] == {"password": "${INFLUX_PASSWORD}"}
    assert "httpHeaderName1" not in ds["jsonData"]
    assert ds["jsonData"]["version"] == "InfluxQL" and ds["jsonData"]["dbName"] == "solarwater"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((), "command"),
        (("build",), "--out"),
        (("build", "--out", "x", "--influx-version", "3"), "--influx-version"),
        (("build", "--out", "x", "--influx-url", "influxdb:8086"), "--influx-url"),
        (("publish",), "publish"),
    ],
)
def test_bad_arguments_give_one_line(args: tuple[str, ...], needle: str) -> None:
    done = build(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = build("build", "--out", str(blocker / "sub"))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "cannot write" in done.stderr
